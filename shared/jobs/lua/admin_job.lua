-- An admin's action on one job (the dashboard): `retry` makes a failed job waiting again with a
-- fresh set of attempts (as retry_failed.lua does for a batch); `remove` deletes a job that is
-- not running (record, indexes, idempotency key: remove_job).
-- ARGV after HEAD: action, id.
-- Returns "retried" (now waiting) or "removed", "missing", or the state that forbids it.
local action, id = ARGV[HEAD + 1], ARGV[HEAD + 2]
local key = job_key(id)
local state = redis.call("HGET", key, "state")
if not state then return "missing" end
if action == "retry" then
  if state ~= "failed" then return state end
  redis.call("HSET", key, "attempts", 0, "scheduledFor", NOW)
  redis.call("HDEL", key, "error", "result", "startedAt", "finishedAt")
  make_ready(id, QUEUE, "failed", false)
  dispatch_fresh()
  return "retried"
elseif action == "remove" then
  if state == "active" then return state end
  remove_job(id)
  return "removed"
end
error("unknown admin job action: " .. tostring(action))
