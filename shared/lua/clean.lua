-- Retention: delete up to `limit` jobs of one queue and state that finished before `cutoff_ms`.
-- Reads only the state index, never the keyspace.
-- ARGV: prefix, queue, state, cutoff_ms, limit.  Returns the number deleted.
local prefix = ARGV[1]
local ids = redis.call("ZRANGEBYSCORE", state_key(prefix, ARGV[2], ARGV[3]), "-inf", ARGV[4],
  "LIMIT", 0, tonumber(ARGV[5]))
for _, id in ipairs(ids) do
  if remove_job(prefix, id) == 0 then redis.call("ZREM", state_key(prefix, ARGV[2], ARGV[3]), id) end
end
return #ids
