-- Move a delayed job to `due_ms`; a due time not in the future makes it ready now (promote).
-- ARGV after HEAD: id, due (time_arg: "+<ms>" after NOW, or epoch ms).
-- Returns "delayed", "waiting", "missing" or the state that forbids it.
local id, due = ARGV[HEAD + 1], time_arg(ARGV[HEAD + 2])
local f = redis.call("HMGET", job_key(id), "state", "queue")
if not f[1] then return "missing" end
if f[1] ~= "delayed" then return f[1] end
if due > NOW then
  redis.call("HSET", job_key(id), "scheduledFor", due)
  set_state(id, f[2], "delayed", "delayed", due)
  return "delayed"
end
redis.call("HSET", job_key(id), "scheduledFor", NOW)
make_ready(id, f[2], "delayed", false)
dispatch_fresh()
return "waiting"
