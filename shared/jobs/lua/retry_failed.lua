-- Retry failed jobs, one bounded batch per call: up to `limit` jobs that failed at or before
-- `until` ("": NOW; a job failing again meanwhile is not retried twice by one request) become
-- waiting again with a fresh set of attempts (attempts 0; error, result, startedAt and
-- finishedAt cleared), at the back of their lines; then the queue is dispatched as its limits
-- (and a pause) allow. Records, idempotency keys and listing indexes stay as they are.
-- ARGV after HEAD: until (epoch ms or ""), limit.
-- Returns {retried, failed jobs left at or before until, until as used}.
local until_ms = tonumber(ARGV[HEAD + 1]) or NOW
local index = state_key(QUEUE, "failed")
local ids = redis.call("ZRANGEBYSCORE", index, "-inf", until_ms, "LIMIT", 0,
  tonumber(ARGV[HEAD + 2]))
local retried = 0
for _, id in ipairs(ids) do
  local key = job_key(id)
  if redis.call("HGET", key, "state") == "failed" then
    redis.call("HSET", key, "attempts", 0, "scheduledFor", NOW)
    redis.call("HDEL", key, "error", "result", "startedAt", "finishedAt")
    make_ready(id, QUEUE, "failed", false)
    retried = retried + 1
  else
    redis.call("ZREM", index, id)  -- a stale entry
  end
end
dispatch_fresh()
return {retried, redis.call("ZCOUNT", index, "-inf", until_ms), until_ms}
