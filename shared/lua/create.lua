-- Create jobs, all or none: record, indexes, and either the delayed set or the ready lines
-- (then dispatched as the queue's limits allow).
-- A job whose idempotency key already names a job returns that job instead; when the earlier
-- request differed (another fingerprint) nothing at all is written and the conflict is named.
-- ARGV after HEAD: n, then per job FIELDS values:
--       id, queue, actor, due_ms, data_json, opts_json, max_attempts, workspace, contact,
--       idem_key ("" for none), idem_fingerprint, idem_ttl_s, org, priority, indexes
-- Returns {"conflict", index (1-based), existing_id} or {status1, id1, status2, id2, ...}
--         with status "created" or "existing".
local n = tonumber(ARGV[HEAD + 1])
local FIELDS, FIRST = 15, HEAD + 1
local existing = {}

for i = 1, n do
  local base = FIRST + (i - 1) * FIELDS
  local idem_key = ARGV[base + 10]
  if idem_key ~= "" then
    local seen = redis.call("HMGET", idem_key, "job", "fp")
    if seen[1] then
      if seen[2] ~= ARGV[base + 11] then return {"conflict", i, seen[1]} end
      existing[i] = seen[1]
    end
  end
end

local reply = {}
for i = 1, n do
  local base = FIRST + (i - 1) * FIELDS
  if existing[i] then
    reply[#reply + 1] = "existing"
    reply[#reply + 1] = existing[i]
  else
    local id, queue = ARGV[base + 1], ARGV[base + 2]
    local due, idem_key = tonumber(ARGV[base + 4]), ARGV[base + 10]
    write_job(id, queue, ARGV[base + 3], ARGV[base + 5], ARGV[base + 6], ARGV[base + 7],
      ARGV[base + 8], ARGV[base + 9], ARGV[base + 13], due, ARGV[base + 14], ARGV[base + 15])
    if idem_key ~= "" then
      redis.call("HSET", idem_key, "job", id, "fp", ARGV[base + 11])
      redis.call("EXPIRE", idem_key, tonumber(ARGV[base + 12]))
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
