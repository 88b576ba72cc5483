-- A worker takes the jobs of one message: each one still waiting on that message (or active
-- on it, when redelivered after its worker died) becomes active, attempt +1, started at
-- Redis' clock. The limits are checked again here, on that one clock: a job that would break
-- one (or whose queue was paused since) goes back to the front of its line unattempted, for
-- the next free slot.
-- ARGV after HEAD: msg_id, worker, id1, id2, ...
-- Returns one entry per id: {id, "skip", reason} or {id, "ok", field1, value1, ...}.
local msg_id, worker = ARGV[HEAD + 1], ARGV[HEAD + 2]
local now_us = redis_now_us()
local now = math.floor(now_us / 1000)
local reply = {}
local queue, waits = nil, {}

-- Why the limits forbid starting one more job of `q` for workspace `ws` now, or nil.
local function over_limit(q, ws)
  if is_paused(q) then return "queue paused" end
  local cfg = queue_cfg(q)
  if cfg.conc and redis.call("ZCARD", state_key(q, "active")) >= cfg.cap then
    return "concurrency limit"
  end
  if cfg.rate and starts_in_window(starts_key(q), now_us, cfg.rate[2]) >= cfg.rate[1] then
    return "rate limit"
  end
  if cfg.ws and starts_in_window(starts_key(q, ws), now_us, cfg.ws[2]) >= cfg.ws[1] then
    return "workspace rate limit"
  end
  return nil
end

for i = HEAD + 3, #ARGV do
  local id = ARGV[i]
  local key = job_key(id)
  local f = redis.call("HMGET", key, "state", "msg", "queue", "enqueuedAt", "ws", "attempts")
  if not f[1] then
    reply[#reply + 1] = {id, "skip", "gone"}
  elseif f[2] ~= msg_id then
    reply[#reply + 1] = {id, "skip", "stale message"}
  elseif f[1] ~= "waiting" and f[1] ~= "active" then
    reply[#reply + 1] = {id, "skip", "state " .. f[1]}
  else
    local q, ws = f[3], ws_name(f[5])
    local refused = nil
    if f[1] == "waiting" then
      undispatch(q, id, f[5])
      refused = over_limit(q, ws)
    end
    if refused then
      make_ready(id, q, "waiting", true)
      FRESH[q] = nil
      if refused ~= "queue paused" then count_event(q, "deferred", 1) end
      reply[#reply + 1] = {id, "skip", refused}
    else
      local cfg = queue_cfg(q)
      local member = id .. ":" .. (tonumber(f[6]) + 1)
      if cfg.rate then record_start(starts_key(q), now_us, cfg.rate[2], member) end
      if cfg.ws then record_start(starts_key(q, ws), now_us, cfg.ws[2], member) end
      redis.call("HINCRBY", key, "attempts", 1)
      redis.call("HSET", key, "startedAt", now, "worker", worker)
      set_state(id, q, f[1], "active", now)
      queue = q
      waits[#waits + 1] = math.max(0, now - tonumber(f[4] or now))
      local entry = redis.call("HGETALL", key)
      table.insert(entry, 1, "ok")
      table.insert(entry, 1, id)
      reply[#reply + 1] = entry
    end
  end
end
if queue then
  count_event(queue, "started", #waits)
  add_samples(queue, "wait", waits)
end
return reply
