-- A worker takes the jobs of one message: each one still waiting on that message (or active
-- on it, when redelivered after its worker died) becomes active, attempt +1.
-- ARGV: prefix, msg_id, worker, now_ms, id1, id2, ...
-- Returns one entry per id: {id, "skip", reason} or {id, "ok", field1, value1, ...}.
local prefix, msg_id, worker, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local reply = {}
local queue, waits = nil, {}
for i = 5, #ARGV do
  local id = ARGV[i]
  local job_key = prefix .. ":job:" .. id
  local f = redis.call("HMGET", job_key, "state", "msg", "queue", "enqueuedAt")
  if not f[1] then
    reply[#reply + 1] = {id, "skip", "gone"}
  elseif f[2] ~= msg_id then
    reply[#reply + 1] = {id, "skip", "stale message"}
  elseif f[1] ~= "waiting" and f[1] ~= "active" then
    reply[#reply + 1] = {id, "skip", "state " .. f[1]}
  elseif f[1] == "waiting" and is_paused(prefix, f[3]) then
    park(prefix, job_key, id, f[3], "waiting", now)
    reply[#reply + 1] = {id, "skip", "queue paused"}
  else
    redis.call("HINCRBY", job_key, "attempts", 1)
    redis.call("HSET", job_key, "startedAt", now, "worker", worker)
    set_state(prefix, job_key, id, f[3], f[1], "active", now)
    queue = f[3]
    waits[#waits + 1] = math.max(0, now - tonumber(f[4] or now))
    local entry = redis.call("HGETALL", job_key)
    table.insert(entry, 1, "ok")
    table.insert(entry, 1, id)
    reply[#reply + 1] = entry
  end
end
if queue then
  count_event(prefix, queue, "started", now, #waits)
  add_samples(prefix, queue, "wait", waits)
end
return reply
