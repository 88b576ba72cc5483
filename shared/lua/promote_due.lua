-- Move up to `limit` delayed jobs of one queue that are due by `now` into Dramatiq's queue.
-- Atomic: a job is never moved twice nor lost between the two, whatever schedulers run.
-- ARGV: prefix, ns, queue, now_ms, limit.  Returns the number moved.
local prefix, ns, queue, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local delayed = state_key(prefix, queue, "delayed")
local ids = redis.call("ZRANGEBYSCORE", delayed, "-inf", now, "LIMIT", 0, tonumber(ARGV[5]))
for _, id in ipairs(ids) do
  local job_key = prefix .. ":job:" .. id
  local f = redis.call("HMGET", job_key, "state", "actor")
  if f[1] == "delayed" then
    enqueue(prefix, ns, job_key, id, queue, f[2], "delayed", now)
  else
    redis.call("ZREM", delayed, id)  -- a stray entry (record gone): drop it
  end
end
return #ids
