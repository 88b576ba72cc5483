-- Give active jobs whose worker stopped beating to another worker: re-enqueued with a new
-- message (the dead worker's copy becomes stale), or failed when it was the last attempt;
-- with `notice_queue` set, a failure also queues its failure notice (job id "<id>.notice").
-- ARGV: prefix, ns, queue, alive_since_s (heartbeat score), now_ms, notice_queue ("" for
--       none), notice_max_attempts
-- Returns the ids re-enqueued or failed.
local prefix, ns, queue = ARGV[1], ARGV[2], ARGV[3]
local alive_since, now = tonumber(ARGV[4]), tonumber(ARGV[5])
local notice_queue, notice_max = ARGV[6], ARGV[7]
local moved = {}
for _, id in ipairs(redis.call("ZRANGE", state_key(prefix, queue, "active"), 0, -1)) do
  local job_key = prefix .. ":job:" .. id
  local f = redis.call("HMGET", job_key, "worker", "actor", "attempts", "maxAttempts", "data",
    "ws", "ct", "org")
  local beat = redis.call("ZSCORE", prefix .. ":alive:worker", f[1] or "")
  if not beat or tonumber(beat) < alive_since then
    local err = "worker " .. (f[1] or "?") .. " died during attempt " .. (f[3] or "?")
    redis.call("HSET", job_key, "error", err)
    if tonumber(f[3] or 0) >= tonumber(f[4] or 1) then
      redis.call("HSET", job_key, "finishedAt", now)
      set_state(prefix, job_key, id, queue, "active", "failed", now)
      if notice_queue ~= "" then
        local notice_id = id .. ".notice"
        local notice = cjson.encode({jobId = id, status = "failed", error = err, queue = queue,
          attempts = tonumber(f[3]), data = cjson.decode(f[5])})
        write_job(prefix, notice_id, notice_queue, notice_queue, notice, "{}", notice_max,
          f[6] or "", f[7] or "", f[8] or "", now, now)
        enqueue(prefix, ns, prefix .. ":job:" .. notice_id, notice_id, notice_queue,
          notice_queue, nil, now)
      end
    else
      enqueue(prefix, ns, job_key, id, queue, f[2], "active", now)
    end
    moved[#moved + 1] = id
  end
end
return moved
