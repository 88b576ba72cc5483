-- A worker takes the jobs of one message: each one still waiting on that message becomes
-- active, attempt +1, started at Redis' clock, under a lease until then + the queue's lease time
-- (its time limit plus a grace: recovery reclaims a job whose lease expired, whatever its
-- worker's heartbeat says). The limits are checked again here, on that one clock: a job whose
-- rate slot frees within the queue's lead time is told to wait that long and ask again (it was
-- sent early on purpose, see queue_room); one that would break a limit otherwise (or whose
-- queue was paused since) goes back to the front of its line unattempted, for the next slot.
-- ARGV after HEAD: msg_id, worker, id1, id2, ...
-- ARGV after the ids: none; the job fields to return follow a "--" separator:
--   ... id_n, "--", field1, field2, ...
-- Returns one entry per id: {id, "skip", reason}, {id, "wait", ms} or
-- {id, "ok", value1, value2, ...} (the values of the requested fields).
local msg_id, worker = ARGV[HEAD + 1], ARGV[HEAD + 2]
local now_us = redis_now_us()
local now = math.floor(now_us / 1000)
local now_text = string.format("%d", now)  -- written as text: see NOW_TEXT
local reply = {}
local queue, waits = nil, {}
local RATE_CHECKS = {{"rate", "rate limit"}, {"ws", "workspace rate limit"}}

-- Why the limits forbid starting one more job of `q` for workspace `ws` now (or nil), and
-- when the reason is a rate slot freeing within the lead time, the µs until it does.
local paused = {}
local function over_limit(q, ws)
  if paused[q] == nil then paused[q] = is_paused(q) end
  if paused[q] then return "queue paused" end
  local cfg = queue_cfg(q)
  if not cfg.limited then return nil end
  if cfg.conc and redis.call("ZCARD", state_key(q, "active")) >= cfg.cap then
    return "concurrency limit"
  end
  for _, check in ipairs(RATE_CHECKS) do
    local rate = cfg[check[1]]
    if rate then
      local key = check[1] == "rate" and starts_key(q) or starts_key(q, ws)
      local wait_us = until_room(key, now_us, rate[1], rate[2])
      if wait_us > 0 then
        if wait_us <= (cfg.lead_us or 0) then return check[2], wait_us end
        return check[2]
      end
    end
  end
  return nil
end

local fields, last_id = {}, #ARGV
for i = HEAD + 3, #ARGV do
  if ARGV[i] == "--" then
    last_id = i - 1
    for j = i + 1, #ARGV do fields[#fields + 1] = ARGV[j] end
    break
  end
end

for i = HEAD + 3, last_id do
  local id = ARGV[i]
  local key = job_key(id)
  local f = redis.call("HMGET", key, "state", "msg", "queue", "enqueuedAt", "ws", "attempts")
  if not f[1] then
    reply[#reply + 1] = {id, "skip", "gone"}
  elseif f[2] ~= msg_id then
    reply[#reply + 1] = {id, "skip", "stale message"}
  elseif f[1] == "active" then
    -- Dramatiq redelivered a message whose job still runs (its broker thought the worker
    -- dead): only recovery (recover.lua: heartbeat or lease) may take a running job away
    reply[#reply + 1] = {id, "skip", "running"}
  elseif f[1] ~= "waiting" then
    reply[#reply + 1] = {id, "skip", "state " .. f[1]}
  else
    local q, ws = f[3], ws_name(f[5])
    local refused, wait_us = over_limit(q, ws)
    if wait_us then
      reply[#reply + 1] = {id, "wait", math.ceil(wait_us / 1000)}
    elseif refused then
      undispatch(q, id, f[5])
      make_ready(id, q, "waiting", true)
      FRESH[q] = nil
      if refused ~= "queue paused" then count_event(q, "deferred", 1) end
      reply[#reply + 1] = {id, "skip", refused}
    else
      undispatch(q, id, f[5])
      local cfg = queue_cfg(q)
      if cfg.rate or cfg.ws then
        local member = id .. ":" .. (tonumber(f[6]) + 1)
        if cfg.rate then record_start(starts_key(q), now_us, cfg.rate[2], member) end
        if cfg.ws then record_start(starts_key(q, ws), now_us, cfg.ws[2], member) end
      end
      redis.call("HSET", key, "attempts", (tonumber(f[6]) or 0) + 1, "startedAt", now_text,
        "worker", worker, "state", "active")
      move_index(id, q, "waiting", "active", now_text)
      redis.call("ZADD", leases_key(q), now + (cfg.lease_ms or 60000), id)
      queue = q
      waits[#waits + 1] = math.max(0, now - tonumber(f[4] or now))
      local entry = {id, "ok"}
      for j, value in ipairs(redis.call("HMGET", key, unpack(fields))) do
        entry[j + 2] = value or ""
      end
      reply[#reply + 1] = entry
    end
  end
end
if queue then
  count_event(queue, "started", #waits)
  add_samples(queue, "wait", waits)
end
return reply
