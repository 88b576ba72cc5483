-- Retention: delete up to `limit` jobs of one queue and state that finished more than
-- `older_than_ms` before NOW. Reads only the state index, never the keyspace.
-- ARGV after HEAD: state, older_than_ms, limit.  Returns the number deleted.
local index = state_key(QUEUE, ARGV[HEAD + 1])
local ids = redis.call("ZRANGEBYSCORE", index, "-inf", NOW - tonumber(ARGV[HEAD + 2]),
  "LIMIT", 0, tonumber(ARGV[HEAD + 3]))
for _, id in ipairs(ids) do
  if remove_job(id) == 0 then redis.call("ZREM", index, id) end
end
return #ids
