-- Drain one state of the queue, one bounded batch per call: delete up to `limit` waiting jobs
-- that became ready at or before `until` ("": NOW), or up to `limit` delayed jobs (any due
-- time), with their records, index entries and idempotency keys (remove_job). A waiting job
-- already on a worker's message is skipped when the worker takes it (as after a cancel).
-- Once no waiting job is left, the ready lines hold only stale entries: they are emptied
-- (one LRANGE per priority over the workspaces listed there; UNLINK frees long lines in the
-- background).
-- Running jobs are left alone; a paused queue stays paused.
-- ARGV after HEAD: state (waiting|delayed), until (epoch ms or ""), limit.
-- Returns {removed, jobs left in that state, until as used (NOW when "")}.
local state, limit = ARGV[HEAD + 1], tonumber(ARGV[HEAD + 3])
if state ~= "waiting" and state ~= "delayed" then error("drain: not a drainable state") end
local index = state_key(QUEUE, state)
local until_ms = tonumber(ARGV[HEAD + 2]) or NOW
local max = state == "waiting" and until_ms or "+inf"
local ids = redis.call("ZRANGEBYSCORE", index, "-inf", max, "LIMIT", 0, limit)
for _, id in ipairs(ids) do
  if remove_job(id) == 0 then redis.call("ZREM", index, id) end
end
local left = redis.call("ZCARD", index)
if state == "waiting" and left == 0 then
  for prio = 1, PRIORITIES do
    local ring = ready_ring(QUEUE, prio)
    for _, ws in ipairs(redis.call("LRANGE", ring, 0, -1)) do
      redis.call("UNLINK", ready_line(QUEUE, prio, ws))  -- freed off the main thread
    end
    redis.call("DEL", ring)
  end
  redis.call("DEL", ready_count_key(QUEUE))
end
return {#ids, left, until_ms}
