-- A running attempt reports on its job: its progress, or one more line of its log. Written
-- only while the job exists, is active and runs on `msg_id` (the attempt's own message): a
-- job deleted, finished, or taken by recovery for another attempt is never written again, so
-- a late report cannot resurrect a deleted job nor mix into another attempt. Both live in
-- the job's own record (Q:job:<id>: fields `progress`, `logs`, `logCount`), so they are
-- deleted with it, by whatever removes the job.
-- ARGV after HEAD: id, msg_id, what ("progress" or "log"), value (progress: JSON text; log:
--       one line, already cut to its byte limit), max_lines (log only: lines kept; older ones
--       are dropped, `logCount` still counts them).
-- Returns 1 when written, 0 when the job is not this attempt's any more.
local id, msg_id, what, value = ARGV[HEAD + 1], ARGV[HEAD + 2], ARGV[HEAD + 3], ARGV[HEAD + 4]
local key = job_key(id)
local f = redis.call("HMGET", key, "state", "msg", "logs")
if f[1] ~= "active" or f[2] ~= msg_id then return 0 end
if what == "progress" then
  redis.call("HSET", key, "progress", value)
  return 1
end
local max_lines = tonumber(ARGV[HEAD + 5])
local lines = f[3] and cjson.decode(f[3]) or {}
lines[#lines + 1] = value
local drop = #lines - max_lines
if drop > 0 then
  local kept = {}
  for i = drop + 1, #lines do kept[#kept + 1] = lines[i] end
  lines = kept
end
redis.call("HSET", key, "logs", cjson.encode(lines))
redis.call("HINCRBY", key, "logCount", 1)
return 1
