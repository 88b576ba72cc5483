-- Create jobs of the queue, in groups, each all or none: record, indexes, and either the
-- delayed set or the ready lines (then dispatched as the queue's limits allow).
-- A job whose idempotency key already names a live job returns that job instead; when the
-- earlier request differed (another fingerprint) nothing of that job's group is written and
-- the conflict is named. Groups are independent: one group's conflict leaves the others
-- written (a gateway's group commit writes many requests, one group each, in one call).
-- An idempotency key lives exactly as long as its job (remove_job deletes it).
-- The caller picks the new ids, so a call retried after a lost reply (a timeout, a dropped
-- connection) finds its jobs written and answers "existing": nothing is created twice.
-- ARGV after HEAD: counts, then per job FIELDS values:
--       id, queue, actor, due (time_arg: "+<ms>" after NOW, or epoch ms), data_json,
--       opts_json, max_attempts, workspace, contact, idem ("<scope>:<key>", "" for none),
--       idem_fingerprint, org, priority, indexes
--   counts: "n" (one group of n jobs), "-n" (only look for a conflict among the n jobs and
--       write nothing: a create spread over sub-queues checks each first), or "g:n1,n2,..."
--       (several groups of n1, n2, ... jobs, in order).
-- Returns, for "n": the group's reply; for "-n": {} or the conflict; for "g:...": one group
-- reply per group. A group reply is {"conflict", index (1-based, in the group), existing_id}
-- or {status1, id1, status2, id2, ...} with status "created" or "existing".
local FIELDS = 14

-- The group of n jobs from ARGV[first + 1]: (the conflict reply, nil) or (nil, existing),
-- existing[i] naming the job a repeated id or idempotency key already holds.
local function check_group(first, n)
  local existing = {}
  for i = 1, n do
    local base = first + (i - 1) * FIELDS
    local id, idem = ARGV[base + 1], ARGV[base + 10]
    if redis.call("EXISTS", job_key(id)) == 1 then
      existing[i] = id  -- this very call, retried
    elseif idem ~= "" then
      local seen = redis.call("HMGET", qkey(ARGV[base + 2], "idem:" .. idem), "job", "fp")
      if seen[1] and redis.call("EXISTS", job_key(seen[1])) == 1 then
        if seen[2] ~= ARGV[base + 11] then return {"conflict", i, seen[1]}, nil end
        existing[i] = seen[1]
      end
    end
  end
  return nil, existing
end

local function write_group(first, n, existing)
  local reply = {}
  for i = 1, n do
    local base = first + (i - 1) * FIELDS
    if existing[i] then
      reply[#reply + 1] = "existing"
      reply[#reply + 1] = existing[i]
    else
      local id, queue, raw_due = ARGV[base + 1], ARGV[base + 2], ARGV[base + 4]
      local due, idem = time_arg(raw_due), ARGV[base + 10]
      local delayed, extra, due_text = due > NOW, {}, NOW_TEXT
      if delayed then
        add_field(extra, "state", "delayed")
        -- the argument itself when it is an epoch ms (no number formatting)
        due_text = string.sub(raw_due, 1, 1) == "+" and string.format("%d", due) or raw_due
      end
      if idem ~= "" then
        local idem_key = qkey(queue, "idem:" .. idem)
        redis.call("DEL", idem_key)
        redis.call("HSET", idem_key, "job", id, "fp", ARGV[base + 11])
        add_field(extra, "idem", idem)
      end
      write_job(id, queue, ARGV[base + 3], ARGV[base + 5], ARGV[base + 6], ARGV[base + 7],
        ARGV[base + 8], ARGV[base + 9], ARGV[base + 12], due_text, ARGV[base + 13],
        ARGV[base + 14], extra)
      if delayed then
        redis.call("ZADD", state_key(queue, "delayed"), due_text, id)  -- state: in the record
      else
        make_ready(id, queue, nil, false)
      end
      reply[#reply + 1] = "created"
      reply[#reply + 1] = id
    end
  end
  return reply
end

local function create_group(first, n)
  local conflict, existing = check_group(first, n)
  return conflict or write_group(first, n, existing)
end

local counts, first = ARGV[HEAD + 1], HEAD + 1
local reply
if string.sub(counts, 1, 2) == "g:" then
  reply = {}
  for size in string.gmatch(string.sub(counts, 3), "%d+") do
    local n = tonumber(size)
    reply[#reply + 1] = create_group(first, n)
    first = first + n * FIELDS
  end
else
  local n = tonumber(counts)
  if n < 0 then return check_group(first, -n) or {} end
  reply = create_group(first, n)
end
dispatch_fresh()
return reply
