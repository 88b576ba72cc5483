-- Create jobs of the queue, all or none: record, indexes, and either the delayed set or the
-- ready lines (then dispatched as the queue's limits allow).
-- A job whose idempotency key already names a live job returns that job instead; when the
-- earlier request differed (another fingerprint) nothing at all is written and the conflict is
-- named. An idempotency key lives exactly as long as its job (remove_job deletes it).
-- The caller picks the new ids, so a call retried after a lost reply (a timeout, a dropped
-- connection) finds its jobs written and answers "existing": nothing is created twice.
-- ARGV after HEAD: n (negative: only look for a conflict among the -n jobs and write nothing;
--       returns {} without one: a create spread over sub-queues checks each first), then per
--       job FIELDS values:
--       id, queue, actor, due (time_arg: "+<ms>" after NOW, or epoch ms), data_json,
--       opts_json, max_attempts, workspace, contact, idem ("<scope>:<key>", "" for none),
--       idem_fingerprint, org, priority, indexes
-- Returns {"conflict", index (1-based), existing_id} or {status1, id1, status2, id2, ...}
--         with status "created" or "existing".
local n = tonumber(ARGV[HEAD + 1])
local check_only = n < 0
n = math.abs(n)
local FIELDS, FIRST = 14, HEAD + 1
local existing = {}

for i = 1, n do
  local base = FIRST + (i - 1) * FIELDS
  local id, idem = ARGV[base + 1], ARGV[base + 10]
  if redis.call("EXISTS", job_key(id)) == 1 then
    existing[i] = id  -- this very call, retried
  elseif idem ~= "" then
    local seen = redis.call("HMGET", qkey(ARGV[base + 2], "idem:" .. idem), "job", "fp")
    if seen[1] and redis.call("EXISTS", job_key(seen[1])) == 1 then
      if seen[2] ~= ARGV[base + 11] then return {"conflict", i, seen[1]} end
      existing[i] = seen[1]
    end
  end
end

if check_only then return {} end

local reply = {}
for i = 1, n do
  local base = FIRST + (i - 1) * FIELDS
  if existing[i] then
    reply[#reply + 1] = "existing"
    reply[#reply + 1] = existing[i]
  else
    local id, queue = ARGV[base + 1], ARGV[base + 2]
    local due, idem = time_arg(ARGV[base + 4]), ARGV[base + 10]
    write_job(id, queue, ARGV[base + 3], ARGV[base + 5], ARGV[base + 6], ARGV[base + 7],
      ARGV[base + 8], ARGV[base + 9], ARGV[base + 12], due, ARGV[base + 13], ARGV[base + 14])
    if idem ~= "" then
      local idem_key = qkey(queue, "idem:" .. idem)
      redis.call("DEL", idem_key)
      redis.call("HSET", idem_key, "job", id, "fp", ARGV[base + 11])
      redis.call("HSET", job_key(id), "idem", idem)
    end
    if due > NOW then
      set_state(id, queue, nil, "delayed", due)
    else
      make_ready(id, queue, nil, false)
    end
    reply[#reply + 1] = "created"
    reply[#reply + 1] = id
  end
end
dispatch_fresh()
return reply
