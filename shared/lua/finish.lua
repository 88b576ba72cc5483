-- Record how attempts ended: completed, failed, delayed again for a retry at `due_ms`, or
-- handed back unattempted ("requeue": waiting again on a new message, the attempt not counted).
-- A failure may carry a failure notice: a new job on the notice queue, written in the same
-- step, so a worker dying right after the failure cannot lose the notice.
-- Only the attempt holding a job's current message may finish it.
-- ARGV: prefix, ns, now_ms, notice_queue, notice_max_attempts, then per job 8 values:
--       id, msg_id, outcome, due_ms, result_json, error, notice_id, notice_json ("" for none)
-- Returns the number of jobs finished (the others had moved on without this attempt).
local prefix, ns, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local notice_queue, notice_max = ARGV[4], ARGV[5]
local done = 0
for base = 6, #ARGV, 8 do
  local id, msg_id, outcome = ARGV[base], ARGV[base + 1], ARGV[base + 2]
  local job_key = prefix .. ":job:" .. id
  local f = redis.call("HMGET", job_key, "state", "msg", "queue", "actor", "ws", "ct", "org",
    "startedAt")
  if f[1] == "active" and f[2] == msg_id then
    if ARGV[base + 4] ~= "" then redis.call("HSET", job_key, "result", ARGV[base + 4]) end
    if ARGV[base + 5] ~= "" then redis.call("HSET", job_key, "error", ARGV[base + 5]) end
    if outcome ~= "requeue" then
      count_event(prefix, f[3], outcome == "delayed" and "retried" or outcome, now, 1)
      add_samples(prefix, f[3], "run", {math.max(0, now - tonumber(f[8] or now))})
    end
    if outcome == "delayed" then
      local due = tonumber(ARGV[base + 3])
      redis.call("HSET", job_key, "scheduledFor", due)
      set_state(prefix, job_key, id, f[3], "active", "delayed", due)
    elseif outcome == "requeue" then
      redis.call("HINCRBY", job_key, "attempts", -1)
      enqueue(prefix, ns, job_key, id, f[3], f[4], "active", now)
    else
      redis.call("HSET", job_key, "finishedAt", now)
      set_state(prefix, job_key, id, f[3], "active", outcome, now)
      local notice_id = ARGV[base + 6]
      if outcome == "failed" and notice_id ~= "" then
        write_job(prefix, notice_id, notice_queue, notice_queue, ARGV[base + 7], "{}",
          notice_max, f[5] or "", f[6] or "", f[7] or "", now, now)
        enqueue(prefix, ns, prefix .. ":job:" .. notice_id, notice_id, notice_queue,
          notice_queue, nil, now)
      end
    end
    done = done + 1
  end
end
return done
