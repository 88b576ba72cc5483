-- Move a delayed job to `due_ms`; a due time not in the future runs it now (promote).
-- ARGV: prefix, ns, id, due_ms, now_ms.  Returns "delayed", "waiting", "missing" or the state
-- that forbids it.
local prefix, ns, id = ARGV[1], ARGV[2], ARGV[3]
local due, now = tonumber(ARGV[4]), tonumber(ARGV[5])
local job_key = prefix .. ":job:" .. id
local f = redis.call("HMGET", job_key, "state", "queue", "actor")
if not f[1] then return "missing" end
if f[1] ~= "delayed" then return f[1] end
if due > now then
  redis.call("HSET", job_key, "scheduledFor", due)
  set_state(prefix, job_key, id, f[2], "delayed", "delayed", due)
  return "delayed"
end
redis.call("HSET", job_key, "scheduledFor", now)
enqueue(prefix, ns, job_key, id, f[2], f[3], "delayed", now)
return "waiting"
