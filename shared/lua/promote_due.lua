-- Make up to `limit` delayed jobs of one queue that are due by NOW ready, then dispatch the
-- queue as its limits allow (also when nothing was due: a limiter window may have moved on).
-- Atomic: a job is never moved twice nor lost between the two, whatever schedulers run.
-- ARGV after HEAD: queue, limit.  Returns {jobs made ready, jobs dispatched}.
local queue, limit = ARGV[HEAD + 1], tonumber(ARGV[HEAD + 2])
local delayed = state_key(queue, "delayed")
local ids = redis.call("ZRANGEBYSCORE", delayed, "-inf", NOW, "LIMIT", 0, limit)
for _, id in ipairs(ids) do
  if redis.call("HGET", job_key(id), "state") == "delayed" then
    make_ready(id, queue, "delayed", false)
  else
    redis.call("ZREM", delayed, id)  -- a stray entry (record gone): drop it
  end
end
return {#ids, dispatch(queue)}
