-- For each queue given: make up to `limit` delayed jobs that are due by NOW ready, then
-- dispatch the queue as its limits allow (also when nothing was due: a limiter window may
-- have moved on). One call serves every queue of a scheduler tick.
-- Atomic: a job is never moved twice nor lost between the two, whatever schedulers run.
-- ARGV after HEAD: limit, queue1, queue2, ...  Returns the jobs made ready, per queue.
local limit = tonumber(ARGV[HEAD + 1])
local moved = {}
for i = HEAD + 2, #ARGV do
  local queue = ARGV[i]
  local delayed = state_key(queue, "delayed")
  local ids = redis.call("ZRANGEBYSCORE", delayed, "-inf", NOW, "LIMIT", 0, limit)
  for _, id in ipairs(ids) do
    if redis.call("HGET", job_key(id), "state") == "delayed" then
      make_ready(id, queue, "delayed", false)
    else
      redis.call("ZREM", delayed, id)  -- a stray entry (record gone): drop it
    end
  end
  dispatch(queue)
  moved[#moved + 1] = #ids
end
return moved
