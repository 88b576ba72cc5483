-- A worker takes a job: waiting (or active, when redelivered after its worker died) -> active.
-- ARGV: prefix, id, msg_id, worker, now_ms
-- Returns the record as a flat list, or {"skip", reason} for a cancelled job or a stale message.
local prefix, id, msg_id = ARGV[1], ARGV[2], ARGV[3]
local job_key = prefix .. ":job:" .. id
local f = redis.call("HMGET", job_key, "state", "msg", "queue")
if not f[1] then return {"skip", "gone"} end
if f[2] ~= msg_id then return {"skip", "stale message"} end
if f[1] ~= "waiting" and f[1] ~= "active" then return {"skip", "state " .. f[1]} end
redis.call("HINCRBY", job_key, "attempts", 1)
redis.call("HSET", job_key, "startedAt", ARGV[5], "worker", ARGV[4])
set_state(prefix, job_key, id, f[3], f[1], "active", tonumber(ARGV[5]))
return redis.call("HGETALL", job_key)
