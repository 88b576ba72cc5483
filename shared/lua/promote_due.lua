-- Move up to `limit` delayed jobs of one queue that are due by `now` into Dramatiq's queue,
-- in messages of at most `batch` jobs. Atomic: a job is never moved twice nor lost between
-- the two, whatever schedulers run.
-- ARGV: prefix, ns, queue, now_ms, limit, batch.  Returns the number moved.
local prefix, ns, queue, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local delayed = state_key(prefix, queue, "delayed")
local ids = redis.call("ZRANGEBYSCORE", delayed, "-inf", now, "LIMIT", 0, tonumber(ARGV[5]))
local due = new_groups()
for _, id in ipairs(ids) do
  local f = redis.call("HMGET", prefix .. ":job:" .. id, "state", "actor")
  if f[1] == "delayed" then
    add_to_group(due, queue, f[2], id)
  else
    redis.call("ZREM", delayed, id)  -- a stray entry (record gone): drop it
  end
end
enqueue_groups(prefix, ns, due, "delayed", now, tonumber(ARGV[6]))
return #ids
