-- Create jobs, all or none: record, indexes, and either the delayed set or Dramatiq's queue.
-- A job whose idempotency key already names a job returns that job instead; when the earlier
-- request differed (another fingerprint) nothing at all is written and the conflict is named.
-- Jobs due now go to Dramatiq in messages of at most `batch` jobs (per queue and actor).
-- ARGV: prefix, ns, now_ms, n, batch, then per job FIELDS values:
--       id, queue, actor, due_ms, data_json, opts_json, max_attempts, workspace, contact,
--       idem_key ("" for none), idem_fingerprint, idem_ttl_s, org
-- Returns {"conflict", index (1-based), existing_id} or {status1, id1, status2, id2, ...}
--         with status "created" or "existing".
local prefix, ns, now, n = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local batch = tonumber(ARGV[5])
local FIELDS, HEAD = 13, 5
local existing = {}

for i = 1, n do
  local base = HEAD + (i - 1) * FIELDS
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
local due_now = new_groups()
for i = 1, n do
  local base = HEAD + (i - 1) * FIELDS
  if existing[i] then
    reply[#reply + 1] = "existing"
    reply[#reply + 1] = existing[i]
  else
    local id, queue, actor = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
    local due = tonumber(ARGV[base + 4])
    local ws, ct, idem_key = ARGV[base + 8], ARGV[base + 9], ARGV[base + 10]
    local job_key = prefix .. ":job:" .. id
    write_job(prefix, id, queue, actor, ARGV[base + 5], ARGV[base + 6], ARGV[base + 7],
      ws, ct, ARGV[base + 13], now, due)
    if idem_key ~= "" then
      redis.call("HSET", idem_key, "job", id, "fp", ARGV[base + 11])
      redis.call("EXPIRE", idem_key, tonumber(ARGV[base + 12]))
    end
    if due > now then
      set_state(prefix, job_key, id, queue, nil, "delayed", due)
    else
      add_to_group(due_now, queue, actor, id)
    end
    reply[#reply + 1] = "created"
    reply[#reply + 1] = id
  end
end
enqueue_groups(prefix, ns, due_now, nil, now, batch)
return reply
