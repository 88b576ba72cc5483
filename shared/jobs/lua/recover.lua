-- Give active jobs that lost their worker to another one: ready again at the front of their
-- line (the old message becomes stale, so the old attempt can no longer finish them), or
-- failed when it was the last attempt; with `notice_queue` set, a failure also queues its
-- failure notice (job id "F<id>", in the notices queue), and its removeOnFail applies
-- (`keep_jobs`). A job has lost its worker when
--   * its worker is not among the workers alive (read by the caller: liveness is kept outside
--     the queue's slot), or
--   * its lease expired (start + the queue's time limit + grace, see start.lua), whatever the
--     heartbeat says: a finish lost to a failed Redis call, a worker stuck in C code.
-- Jobs on a message a worker took `stale_ms` ago and has not started (it died with the message
-- prefetched: a message leaves the list as a worker takes it; or it is busy with other work)
-- go back to the front of their line too, so they hold no slot meanwhile and are never lost;
-- their old message becomes stale. Jobs whose message still waits in the list stay on it.
-- ARGV after HEAD: notice_queue ("" for none), notice_max_attempts, stale_ms, then the
--       workers alive, one per argument
-- Returns the ids made ready again or failed.
local queue = QUEUE
local notice_queue, notice_max = ARGV[HEAD + 1], ARGV[HEAD + 2]
local stale_us = tonumber(ARGV[HEAD + 3]) * 1000
local alive = {}
for i = HEAD + 4, #ARGV do alive[ARGV[i]] = true end
local moved = {}
local now_us = redis_now_us()
local taken = qkey(queue, "mq:taken")  -- when a worker took each message (jobs/broker.py)
local stale = redis.call("ZRANGEBYSCORE", dispatched_key(queue), "-inf", now_us - stale_us)
for _, id in ipairs(stale) do
  local f = redis.call("HMGET", job_key(id), "state", "msg", "ws")
  local on_message = f[1] == "waiting" and f[2] and f[2] ~= ""
  local taken_at = on_message and tonumber(redis.call("ZSCORE", taken, f[2]))
  -- a message still in the queue's list is waiting for a worker, not lost: leave it
  if not on_message or (taken_at and taken_at < now_us - stale_us) then
    undispatch(queue, id, f[3])
    if on_message then
      make_ready(id, queue, "waiting", true)
      moved[#moved + 1] = id
    end
  end
end
redis.call("ZREMRANGEBYSCORE", taken, "-inf", now_us - 10 * stale_us)

local expired = {}
for _, id in ipairs(redis.call("ZRANGEBYSCORE", leases_key(queue), "-inf", NOW)) do
  expired[id] = true
end
for _, id in ipairs(redis.call("ZRANGE", state_key(queue, "active"), 0, -1)) do
  local key = job_key(id)
  local f = redis.call("HMGET", key, "worker", "attempts", "maxAttempts", "data", "ws", "ct",
    "org", "opts")
  local err = nil
  if expired[id] then
    err = "lease expired during attempt " .. (f[2] or "?") .. " on worker " .. (f[1] or "?")
  else
    if not alive[f[1] or ""] then
      err = "worker " .. (f[1] or "?") .. " died during attempt " .. (f[2] or "?")
    end
  end
  if err then
    redis.call("HSET", key, "error", err)
    if tonumber(f[2] or 0) >= tonumber(f[3] or 1) then
      redis.call("HSET", key, "finishedAt", NOW, "msg", "")
      set_state(id, queue, "active", "failed", NOW)
      if notice_queue ~= "" then
        local notice = cjson.encode({jobId = id, status = "failed", error = err, queue = queue,
          attempts = tonumber(f[2]), data = cjson.decode(f[4])})
        write_follow_ups({{id = "F" .. id, queue = notice_queue, data = notice,
          max = notice_max}}, f[5], f[6], f[7])
      end
      local keep = f[8] and f[8] ~= "" and keep_of(cjson.decode(f[8]).removeOnFail)
      if keep then keep_jobs(id, "failed", f[7], keep) end
    else
      make_ready(id, queue, "active", true)
    end
    moved[#moved + 1] = id
  end
end
-- lease entries of jobs no longer active (a record removed by hand): drop them
for id in pairs(expired) do
  if redis.call("HGET", job_key(id), "state") ~= "active" then
    redis.call("ZREM", leases_key(queue), id)
  end
end
FRESH[queue] = FRESH[queue] or {}
dispatch_fresh()
return moved
