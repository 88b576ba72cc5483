-- Helpers prepended to every job-store script (Lua scripts cannot import one another).
-- Key layout, all under PREFIX:
--   job:<id>                      hash: the job record
--   jobs:<queue>:<state>          zset of ids per state; the delayed one is scored by due time
--   idx:ws:<workspace>            zset of ids by creation time
--   idx:ct:<workspace>:<contact>  zset of ids by creation time
-- Dramatiq's broker keeps <ns>:<queue> (list of message ids) and <ns>:<queue>.msgs (hash).

local function state_key(prefix, queue, state)
  return prefix .. ":jobs:" .. queue .. ":" .. state
end

-- Activity per queue for GET /api/metrics: counters in 10-second buckets kept 10 minutes, and
-- the last 1,000 wait and run times (ms).
local STATS_BUCKET_MS, STATS_KEEP_S, STATS_SAMPLES = 10000, 600, 1000

local function count_event(prefix, queue, event, now, n)
  if n == 0 then return end
  local key = prefix .. ":stats:" .. queue .. ":" .. event .. ":"
    .. math.floor(now / STATS_BUCKET_MS)
  redis.call("INCRBY", key, n)
  redis.call("EXPIRE", key, STATS_KEEP_S)
end

local function add_samples(prefix, queue, what, values)
  if #values == 0 then return end
  local key = prefix .. ":stats:" .. queue .. ":" .. what
  redis.call("LPUSH", key, unpack(values))
  redis.call("LTRIM", key, 0, STATS_SAMPLES - 1)
end

-- Write a new job's record and its workspace/contact index entries (its state comes next).
local function write_job(prefix, id, queue, actor, data, opts, max_attempts, ws, ct, org, now, due)
  redis.call("HSET", prefix .. ":job:" .. id, "id", id, "queue", queue, "actor", actor,
    "data", data, "opts", opts, "attempts", 0, "maxAttempts", max_attempts, "createdAt", now,
    "scheduledFor", math.max(due, now), "ws", ws, "ct", ct, "org", org, "enq", 0)
  if ws ~= "" then
    redis.call("ZADD", prefix .. ":idx:ws:" .. ws, now, id)
    if ct ~= "" then redis.call("ZADD", prefix .. ":idx:ct:" .. ws .. ":" .. ct, now, id) end
  end
end

-- Move job `id` from its current state index to `new_state`, scored `score`.
local function set_state(prefix, job_key, id, queue, old_state, new_state, score)
  if old_state then redis.call("ZREM", state_key(prefix, queue, old_state), id) end
  redis.call("ZADD", state_key(prefix, queue, new_state), score, id)
  redis.call("HSET", job_key, "state", new_state)
end

-- Hand jobs to Dramatiq (as its Redis broker enqueues) in ONE message carrying all their ids:
-- a worker then starts and finishes them with one round trip per handful, not per job. Each
-- job remembers the message id, so a stale copy of an older message is recognised and skipped.
-- All `ids` share `queue`, `actor` and `old_state` (nil for new jobs).
-- A job of a paused queue waits "parked": in the waiting state, on no message, listed in
-- jobs:<queue>:parked until the queue is resumed.
local function is_paused(prefix, queue)
  return redis.call("SISMEMBER", prefix .. ":paused", queue) == 1
end

local function park(prefix, job_key, id, queue, old_state, now)
  redis.call("HSET", job_key, "msg", "")
  redis.call("ZADD", prefix .. ":jobs:" .. queue .. ":parked", now, id)
  if old_state ~= "waiting" then set_state(prefix, job_key, id, queue, old_state, "waiting", now) end
end

local function enqueue_batch(prefix, ns, queue, actor, ids, old_state, now)
  if is_paused(prefix, queue) then
    for _, id in ipairs(ids) do park(prefix, prefix .. ":job:" .. id, id, queue, old_state, now) end
    return ""
  end
  local first = prefix .. ":job:" .. ids[1]
  local msg_id = ids[1] .. "." .. redis.call("HINCRBY", first, "enq", 1)
  if #ids > 1 then msg_id = msg_id .. "+" .. (#ids - 1) end
  local message = cjson.encode({
    queue_name = queue, actor_name = actor, args = {ids}, kwargs = {},
    options = {redis_message_id = msg_id}, message_id = msg_id, message_timestamp = now})
  redis.call("HSET", ns .. ":" .. queue .. ".msgs", msg_id, message)
  redis.call("RPUSH", ns .. ":" .. queue, msg_id)
  for i, id in ipairs(ids) do
    local job_key = prefix .. ":job:" .. id
    if i > 1 then redis.call("HINCRBY", job_key, "enq", 1) end
    redis.call("HSET", job_key, "msg", msg_id, "enqueuedAt", now)
    set_state(prefix, job_key, id, queue, old_state, "waiting", now)
  end
  return msg_id
end

local function enqueue(prefix, ns, job_key, id, queue, actor, old_state, now)
  return enqueue_batch(prefix, ns, queue, actor, {id}, old_state, now)
end

-- Jobs collected per (queue, actor), in first-seen order, to enqueue group by group.
local function new_groups() return {by = {}, order = {}} end

local function add_to_group(groups, queue, actor, id)
  local name = queue .. " " .. actor
  if not groups.by[name] then
    groups.by[name] = {}
    groups.order[#groups.order + 1] = {name, queue, actor}
  end
  table.insert(groups.by[name], id)
end

-- Enqueue `ids` in messages of at most `size` jobs each.
local function enqueue_chunks(prefix, ns, queue, actor, ids, old_state, now, size)
  local chunk = {}
  for _, id in ipairs(ids) do
    chunk[#chunk + 1] = id
    if #chunk >= size then
      enqueue_batch(prefix, ns, queue, actor, chunk, old_state, now)
      chunk = {}
    end
  end
  if #chunk > 0 then enqueue_batch(prefix, ns, queue, actor, chunk, old_state, now) end
end

-- Delete the job record and every index entry that names it.
local function remove_job(prefix, id)
  local job_key = prefix .. ":job:" .. id
  local f = redis.call("HMGET", job_key, "queue", "state", "ws", "ct")
  if not f[1] then return 0 end
  redis.call("ZREM", state_key(prefix, f[1], f[2]), id)
  redis.call("ZREM", state_key(prefix, f[1], "parked"), id)
  if f[3] and f[3] ~= "" then
    redis.call("ZREM", prefix .. ":idx:ws:" .. f[3], id)
    if f[4] and f[4] ~= "" then
      redis.call("ZREM", prefix .. ":idx:ct:" .. f[3] .. ":" .. f[4], id)
    end
  end
  redis.call("DEL", job_key)
  return 1
end

-- Enqueue every group, in messages of at most `size` jobs each.
local function enqueue_groups(prefix, ns, groups, old_state, now, size)
  for _, g in ipairs(groups.order) do
    enqueue_chunks(prefix, ns, g[2], g[3], groups.by[g[1]], old_state, now, size)
  end
end
