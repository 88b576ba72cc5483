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
local by_actor, order = {}, {}
for _, id in ipairs(ids) do
  redis.call("ZREM", parked, id)
  local f = redis.call("HMGET", prefix .. ":job:" .. id, "state", "actor", "msg")
  if f[1] == "waiting" and f[3] == "" then
    if not by_actor[f[2]] then
      by_actor[f[2]] = {}
      order[#order + 1] = f[2]
    end
    table.insert(by_actor[f[2]], id)
  end
end
for _, actor in ipairs(order) do
  enqueue_chunks(prefix, ns, queue, actor, by_actor[actor], "waiting", now, batch)
end
return #ids
