-- Make up to `limit` delayed jobs of the queue that are due by NOW ready, then dispatch it as
-- its limits allow (also when nothing was due: a limiter window may have moved on).
-- Atomic: a job is never moved twice nor lost between the two, whatever schedulers run.
-- ARGV after HEAD: limit.  Returns the number of jobs made ready.
local limit = tonumber(ARGV[HEAD + 1])
local delayed = state_key(QUEUE, "delayed")
local ids = redis.call("ZRANGEBYSCORE", delayed, "-inf", NOW, "LIMIT", 0, limit)
for _, id in ipairs(ids) do
  if redis.call("HGET", job_key(id), "state") == "delayed" then
    make_ready(id, QUEUE, "delayed", false)
  else
    redis.call("ZREM", delayed, id)  -- a stray entry (record gone): drop it
  end
end
dispatch(QUEUE)
return #ids
