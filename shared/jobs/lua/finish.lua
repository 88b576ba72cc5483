-- Record how attempts ended: completed, failed, delayed again for a retry at `due_ms`, or
-- handed back unattempted ("requeue": ready again at the front of its line, the attempt not
-- counted). A final outcome (completed, failed) may bring follow-up jobs (a failure notice, a
-- webhook) and AI usage for the organisation's totals, written in the same step: a worker
-- dying right after cannot lose a notice nor count usage twice.
-- Only the attempt holding a job's current message may finish it. The slots freed are
-- dispatched again at once.
-- A final outcome may also say how many such jobs to keep (the job's removeOnComplete or
-- removeOnFail, BullMQ's KeepJobs): see `keep_jobs`.
-- ARGV after HEAD: per job 7 values: id, msg_id, outcome, due (time_arg), result_json, error,
--       extras_json ("" for none: {"followUps": [{id, queue, data, max}], "usage": {kind,
--       tokens, costCents}, "keep": {count?, age?}, "calls": [the attempt's HTTP calls]});
--       every attempt that ran (not "requeue") joins the job's history (attempt_history)
-- Returns the number of jobs finished (the others had moved on without this attempt).
local done, freed = 0, {}
-- metrics are written once per call, not per job: events counted, run times (ms) per queue
local events, runs = {}, {}
for base = HEAD + 1, #ARGV, 7 do
  local id, msg_id, outcome = ARGV[base], ARGV[base + 1], ARGV[base + 2]
  local key = job_key(id)
  local f = redis.call("HMGET", key, "state", "msg", "queue", "ws", "ct", "org", "startedAt",
    "attempts", "history")
  if f[1] == "active" and f[2] == msg_id then
    local queue = f[3]
    local extras = ARGV[base + 6] ~= "" and cjson.decode(ARGV[base + 6]) or {}
    freed[queue] = true
    -- the record's new fields, written in one HSET before anything that may delete the job
    -- (keep_jobs) or read it again (make_ready)
    local sets = {}
    if ARGV[base + 4] ~= "" then add_field(sets, "result", ARGV[base + 4]) end
    if ARGV[base + 5] ~= "" then add_field(sets, "error", ARGV[base + 5]) end
    if outcome ~= "requeue" then
      local event = queue .. " " .. (outcome == "delayed" and "retried" or outcome)
      events[event] = (events[event] or 0) + 1
      runs[queue] = runs[queue] or {}
      table.insert(runs[queue], math.max(0, NOW - tonumber(f[7] or NOW)))
      add_field(sets, "history",
        attempt_history(f[9], f[8], outcome, f[7], ARGV[base + 5], extras.calls))
    end
    if outcome == "delayed" then
      local due = time_arg(ARGV[base + 3])
      add_field(sets, "scheduledFor", due)
      add_field(sets, "state", "delayed")
      redis.call("HSET", key, unpack(sets))
      move_index(id, queue, "active", "delayed", due)
    elseif outcome == "requeue" then
      add_field(sets, "attempts", (tonumber(f[8]) or 1) - 1)
      redis.call("HSET", key, unpack(sets))
      make_ready(id, queue, "active", true)
    else
      add_field(sets, "finishedAt", NOW_TEXT)
      add_field(sets, "state", outcome)
      redis.call("HSET", key, unpack(sets))
      move_index(id, queue, "active", outcome, NOW_TEXT)
      write_follow_ups(extras.followUps or {}, f[4], f[5], f[6])
      if extras.usage then add_usage(f[6] or "", extras.usage) end
      if extras.keep then keep_jobs(id, outcome, f[6], extras.keep) end
    end
    done = done + 1
  end
end
for event, n in pairs(events) do
  local queue, name = string.match(event, "^(%S+) (%S+)$")
  count_event(queue, name, n)
end
for queue, times in pairs(runs) do add_samples(queue, "run", times) end
for queue in pairs(freed) do FRESH[queue] = FRESH[queue] or {} end
dispatch_fresh(true)
return done
