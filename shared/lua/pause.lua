-- Pause or resume a queue. A paused queue starts no new job: due and waiting jobs are parked
-- (see _lib.lua) and jobs already running finish. Resuming un-parks up to `limit` jobs per call,
-- oldest first, in messages of at most `batch`; call again until it returns 0.
-- ARGV: prefix, ns, queue, action (pause|resume), now_ms, limit, batch
-- Returns the number of jobs handed back to the queue (0 for pause).
local prefix, ns, queue, action = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now, limit, batch = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
if action == "pause" then
  redis.call("SADD", prefix .. ":paused", queue)
  return 0
end
redis.call("SREM", prefix .. ":paused", queue)
local parked = state_key(prefix, queue, "parked")
local ids = redis.call("ZRANGE", parked, 0, limit - 1)
local unparked = new_groups()
for _, id in ipairs(ids) do
  redis.call("ZREM", parked, id)
  local f = redis.call("HMGET", prefix .. ":job:" .. id, "state", "actor", "msg")
  if f[1] == "waiting" and f[3] == "" then add_to_group(unparked, queue, f[2], id) end
end
enqueue_groups(prefix, ns, unparked, "waiting", now, batch)
return #ids
