-- Record an attempt's end: completed, failed, or delayed again for a retry at `due_ms`.
-- Only the attempt holding the job's current message may finish it.
-- ARGV: prefix, id, msg_id, outcome (completed|failed|delayed), now_ms, due_ms,
--       result_json ("" for none), error ("" for none)
-- Returns 1, or 0 when the job is gone or no longer this attempt's.
local prefix, id, msg_id, outcome = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now = tonumber(ARGV[5])
local job_key = prefix .. ":job:" .. id
local f = redis.call("HMGET", job_key, "state", "msg", "queue")
if f[1] ~= "active" or f[2] ~= msg_id then return 0 end
if ARGV[7] ~= "" then redis.call("HSET", job_key, "result", ARGV[7]) end
if ARGV[8] ~= "" then redis.call("HSET", job_key, "error", ARGV[8]) end
if outcome == "delayed" then
  local due = tonumber(ARGV[6])
  redis.call("HSET", job_key, "scheduledFor", due)
  set_state(prefix, job_key, id, f[3], "active", "delayed", due)
else
  redis.call("HSET", job_key, "finishedAt", now)
  set_state(prefix, job_key, id, f[3], "active", outcome, now)
end
return 1
