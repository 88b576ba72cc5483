-- Record how attempts ended: completed, failed, delayed again for a retry at `due_ms`, or
-- handed back unattempted ("requeue": ready again at the front of its line, the attempt not
-- counted). A failure may carry a failure notice: a new job on the notice queue, written in
-- the same step, so a worker dying right after the failure cannot lose the notice.
-- Only the attempt holding a job's current message may finish it. The slots freed are
-- dispatched again at once.
-- ARGV after HEAD: notice_queue, notice_max_attempts, then per job 8 values:
--       id, msg_id, outcome, due_ms, result_json, error, notice_id, notice_json ("" for none)
-- Returns the number of jobs finished (the others had moved on without this attempt).
local notice_queue, notice_max = ARGV[HEAD + 1], ARGV[HEAD + 2]
local done, freed = 0, {}
for base = HEAD + 3, #ARGV, 8 do
  local id, msg_id, outcome = ARGV[base], ARGV[base + 1], ARGV[base + 2]
  local key = job_key(id)
  local f = redis.call("HMGET", key, "state", "msg", "queue", "ws", "ct", "org", "startedAt")
  if f[1] == "active" and f[2] == msg_id then
    local queue = f[3]
    freed[queue] = true
    if ARGV[base + 4] ~= "" then redis.call("HSET", key, "result", ARGV[base + 4]) end
    if ARGV[base + 5] ~= "" then redis.call("HSET", key, "error", ARGV[base + 5]) end
    if outcome ~= "requeue" then
      count_event(queue, outcome == "delayed" and "retried" or outcome, 1)
      add_samples(queue, "run", {math.max(0, NOW - tonumber(f[7] or NOW))})
    end
    if outcome == "delayed" then
      local due = tonumber(ARGV[base + 3])
      redis.call("HSET", key, "scheduledFor", due)
      set_state(id, queue, "active", "delayed", due)
    elseif outcome == "requeue" then
      redis.call("HINCRBY", key, "attempts", -1)
      make_ready(id, queue, "active", true)
    else
      redis.call("HSET", key, "finishedAt", NOW)
      set_state(id, queue, "active", outcome, NOW)
      local notice_id = ARGV[base + 6]
      if outcome == "failed" and notice_id ~= "" then
        write_job(notice_id, notice_queue, notice_queue, ARGV[base + 7], "{}", notice_max,
          f[4] or "", f[5] or "", f[6] or "", NOW, DEFAULT_PRIORITY)
        make_ready(notice_id, notice_queue, nil, false)
      end
    end
    done = done + 1
  end
end
for queue in pairs(freed) do FRESH[queue] = FRESH[queue] or {} end
dispatch_fresh()
return done
