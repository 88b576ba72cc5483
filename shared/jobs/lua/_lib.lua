-- Helpers prepended to every job-store script (Lua scripts cannot import one another).
--
-- One queue per call: KEYS[1] is the queue's tag key `<prefix>:{<queue>}` and every key the
-- script touches is that name plus a suffix, so all of a queue's keys share one hash slot
-- (BullMQ's rule) and the same scripts run on one Redis and on Redis Cluster. Keys whose names
-- come from data (a job id, a workspace's ready line, a listing index) are built here from
-- KEYS[1], in the same slot; `qkey` refuses a key of another queue.
-- Every script gets the same three leading arguments, then its own from ARGV[HEAD + 1]:
--   QUEUE    the queue's name (the one in KEYS[1])
--   CFG      the queue's limits, JSON: {cap, conc, batch, limited, lead_us, lease_ms,
--            rate = {max, window_us}?, ws = {max, window_us}?}: `cap` bounds jobs active or
--            on a message (it is the concurrency limit when `conc`); see jobs/queues.py
--   NOW      "" (always, outside tests): Redis' own clock (TIME), epoch ms, so hosts with
--            skewed clocks agree on due times, back-offs, leases, liveness and stats; a number
--            fixes the clock (tests only). Rate limits always use TIME, in µs.
--
-- Key layout, each under Q = KEYS[1] = <prefix>:{<queue>}:
--   Q:job:<id>                 hash: the job record (with what its processor reports: fields
--                              progress, logs, logCount; progress.lua; and the attempts
--                              it made, field history: attempt_history)
--   Q:jobs:<state>             zset of ids per state; the delayed one is scored by due time
--   Q:ready:<prio>             list: the workspaces with jobs ready at that priority, in
--                              round-robin order (a workspace is listed iff its line is not
--                              empty)
--   Q:ready:<prio>:<ws>        list: that workspace's ready job ids at that priority, FIFO
--   Q:ready                    counter: entries in all of the queue's lines (stale included)
--   Q:dispatched               zset: jobs handed to a worker's message and not started yet
--   Q:dispatched-ws            hash: the same, counted per workspace (with a workspace limit)
--   Q:starts[:ws:<ws>]         zset: job starts in the limiter's window (TIME, µs)
--   Q:sends[:ws:<ws>]          zset: requests written to the backend, the window the backend
--                              sees (send_slot.lua; TIME, µs)
--   Q:leases                   zset: active jobs by lease expiry (ms): start + the queue's
--                              time limit + LEASE_GRACE_MS; recovery reclaims expired ones
--   Q:paused                   string: present while the queue is paused
--   Q:idx:<name>               zset of ids by creation time, for listings a job asks for
--                              (e.g. an organisation's AI jobs of one type; kept:<state>:<org>:
--                              its jobs under a removeOnComplete/removeOnFail count or age,
--                              finish.lua); every job with a workspace/contact is in ws:<org>:<ws>
--                              and ct:<org>:<ws>:<contact>, the admin search's indexes
--                              (jobs/indexes.py): names from data, built in Python, listed in
--                              the record's idx field, same slot
--   Q:idem:<scope>:<key>       hash {job, fp}: a client-chosen id, as long as its job lives
--   Q:seen:<channel>:<event>   string: the job of an inbound webhook's provider event id, kept
--                              WEBHOOK_DEDUP_WINDOW_S (webhook-processing; shared/inbound/)
--   Q:usage:<org>              hash: "<kind>:jobs|tokens|costCents" summed over finished jobs
--   Q:outbox                   list of JSON follow-up jobs for other queues (failure notices,
--                              webhooks): the scheduler creates them in their own queue under
--                              their deterministic ids, then removes them (exactly once)
--   Q:stats:<event>:<bucket>   counters for metrics; Q:stats:wait|run the last run times
--   Q:mq, Q:mq:msgs            the queue's worker messages: a list of ids and their bodies
--                              (Dramatiq's message format, read by jobs/broker.py)
--   Q:mq:held                  zset: messages of jobs due soon, built ahead of time (bodies
--                              in Q:mq:msgs), by when each joins Q:mq (ms; promote_due.lua)
--   Q:wake                     tokens that wake an idle worker as soon as a message lands
--
-- A job's life: delayed --due--> waiting (ready) --dispatch--> waiting (on a message)
-- --start--> active --> completed | failed | delayed (retry). "Ready" jobs wait in our lines,
-- where priority, round robin, pause and the limits decide which one a worker gets next.

local Q, QUEUE = KEYS[1], ARGV[1]
local HEAD = 3

local function redis_now_us()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local NOW = tonumber(ARGV[3]) or math.floor(redis_now_us() / 1000)
-- NOW as text, for the fields and scores written with it: a Lua number handed to redis.call
-- is formatted with "%.17g" each time (about 0.4 µs)
local NOW_TEXT = string.format("%d", NOW)

-- The name of this queue's key `suffix`; `queue` must be this call's queue.
local function qkey(queue, suffix)
  if queue ~= QUEUE then error("cross-queue access: " .. tostring(queue) .. " in " .. QUEUE) end
  return Q .. ":" .. suffix
end

-- A time argument: "+<ms>" is that long after NOW, anything else an epoch ms.
local function time_arg(value)
  if string.sub(value, 1, 1) == "+" then return NOW + tonumber(string.sub(value, 2)) end
  return tonumber(value)
end
local PRIORITIES, DEFAULT_PRIORITY = 10, 5

local function state_key(queue, state) return qkey(queue, "jobs:" .. state) end

-- A job's record; the id is data, the key is this queue's (same slot).
local function job_key(id) return Q .. ":job:" .. id end

-- CFG is decoded on first use: creating a delayed job never needs it.
local CFG = nil
local function queue_cfg(queue)
  if CFG == nil then CFG = cjson.decode(ARGV[2]) end
  if queue ~= QUEUE then error("cross-queue access: " .. tostring(queue) .. " in " .. QUEUE) end
  return CFG
end

-- Activity per queue for GET /api/metrics: counters in 10-second buckets kept 10 minutes, and
-- the last 1,000 wait and run times (ms). For the dashboard's history (shared/dashboard/
-- history.py) the same counters per minute and per hour (Q:stats:<m|h>:<event>:<bucket>), and
-- wait and run times as histograms per minute and per hour (Q:stats:<m|h>:hist:<what>:<bucket>,
-- a hash: histogram bucket -> count, bucket b holding times up to 2^(b/4) ms), kept 25 hours.
local STATS_BUCKET_MS, STATS_KEEP_S, STATS_SAMPLES = 10000, 600, 1000
local HISTORY = {{"m", 60000}, {"h", 3600000}}
local HISTORY_KEEP_S = 90000

local function count_event(queue, event, n)
  if n == 0 then return end
  local key = qkey(queue, "stats:" .. event .. ":" .. math.floor(NOW / STATS_BUCKET_MS))
  redis.call("INCRBY", key, n)
  redis.call("EXPIRE", key, STATS_KEEP_S)
  for _, h in ipairs(HISTORY) do
    local long = qkey(queue, "stats:" .. h[1] .. ":" .. event .. ":" .. math.floor(NOW / h[2]))
    redis.call("INCRBY", long, n)
    redis.call("EXPIRE", long, HISTORY_KEEP_S)
  end
end

local function add_samples(queue, what, values)
  if #values == 0 then return end
  local key = qkey(queue, "stats:" .. what)
  redis.call("LPUSH", key, unpack(values))
  redis.call("LTRIM", key, 0, STATS_SAMPLES - 1)
  -- one HINCRBY per histogram bucket the values fall in, not per value
  local buckets = {}
  for _, ms in ipairs(values) do
    local b = math.ceil(4 * math.log(math.max(tonumber(ms), 1)) / math.log(2))
    buckets[b] = (buckets[b] or 0) + 1
  end
  for _, h in ipairs(HISTORY) do
    local hist = qkey(queue, "stats:" .. h[1] .. ":hist:" .. what .. ":" .. math.floor(NOW / h[2]))
    for b, n in pairs(buckets) do redis.call("HINCRBY", hist, b, n) end
    redis.call("EXPIRE", hist, HISTORY_KEEP_S)
  end
end

-- Append `name`, `value` to `fields`, an HSET's field, value list.
local function add_field(fields, name, value)
  fields[#fields + 1] = name
  fields[#fields + 1] = value
end

-- Write a new job's record and its index entries (its state comes next). `due_text`: when it
-- is due, epoch ms as text, NOW_TEXT for a job due now. `indexes`: names of extra listing
-- indexes, space-separated ("" for none).
local function write_job(id, queue, actor, data, opts, max_attempts, ws, ct, org, due_text,
                         prio, indexes, extra)
  -- one HSET for the whole record: `extra` holds more field, value pairs (e.g. its state)
  local fields = {"id", id, "queue", queue, "actor", actor,
    "data", data, "opts", opts, "attempts", "0", "maxAttempts", max_attempts,
    "createdAt", NOW_TEXT, "scheduledFor", due_text, "ws", ws, "ct", ct, "org", org}
  -- fields at their default are left out (absent reads as: priority 5, no message, no index)
  if tonumber(prio) ~= DEFAULT_PRIORITY then add_field(fields, "prio", prio) end
  if indexes and indexes ~= "" then add_field(fields, "idx", indexes) end
  for _, value in ipairs(extra or {}) do fields[#fields + 1] = value end
  redis.call("HSET", job_key(id), unpack(fields))
  for name in string.gmatch(indexes or "", "%S+") do
    redis.call("ZADD", qkey(queue, "idx:" .. name), NOW_TEXT, id)
  end
end

-- Move job `id` from its current state index to `new_state`, scored `score`.
local function leases_key(queue) return qkey(queue, "leases") end

-- `set_state` without the record's state field, for a caller that writes that field in its
-- own HSET of the record (one call instead of two).
local function move_index(id, queue, old_state, new_state, score)
  if old_state then redis.call("ZREM", state_key(queue, old_state), id) end
  if old_state == "active" and new_state ~= "active" then
    redis.call("ZREM", leases_key(queue), id)
  end
  redis.call("ZADD", state_key(queue, new_state), score, id)
end

local function set_state(id, queue, old_state, new_state, score)
  move_index(id, queue, old_state, new_state, score)
  redis.call("HSET", job_key(id), "state", new_state)
end

local function is_paused(queue)
  return redis.call("EXISTS", qkey(queue, "paused")) == 1
end

-- -- Limits ------------------------------------------------------------------------------

local function ws_name(ws)
  if ws == nil or ws == false or ws == "" then return "-" end
  return ws
end

local function starts_key(queue, ws)
  if ws then return qkey(queue, "starts:ws:" .. ws) end
  return qkey(queue, "starts")
end

-- Starts within the window ending at `now_us` (older ones are dropped); with `lead_us`, only
-- those still in the window at `now_us + lead_us` count.
local function starts_in_window(key, now_us, window_us, lead_us)
  redis.call("ZREMRANGEBYSCORE", key, "-inf", now_us - window_us)
  if lead_us then return redis.call("ZCOUNT", key, now_us + lead_us - window_us, "+inf") end
  return redis.call("ZCARD", key)
end

-- Microseconds until the window of `key` has room for one more start (0: room now).
local function until_room(key, now_us, max, window_us)
  local count = starts_in_window(key, now_us, window_us)
  if count < max then return 0 end
  local freeing = redis.call("ZRANGE", key, count - max, count - max, "WITHSCORES")
  return math.max(1, tonumber(freeing[2]) + window_us - now_us)
end

-- The send window's margin over a limit's window: 4 % of it, between 20 and 200 ms (µs): more
-- than the jitter between taking a slot and the request's arrival measured on a loaded 2-core
-- host (up to ~16 ms), at 96 % of the nominal rate sustained.
local function send_margin_us(window_us)
  return math.min(math.max(math.floor(window_us * 4 / 100), 20000), 200000)
end

local function record_start(key, now_us, window_us, member)
  redis.call("ZADD", key, now_us, member)
  redis.call("PEXPIRE", key, math.ceil(window_us / 1000) + 1000)
end

local function dispatched_key(queue) return qkey(queue, "dispatched") end
local function ws_dispatched_key(queue) return qkey(queue, "dispatched-ws") end

-- A dispatched job left its message (started, cancelled, or handed back): uncount it.
local function undispatch(queue, id, ws)
  if redis.call("ZREM", dispatched_key(queue), id) == 1 and queue_cfg(queue).ws then
    local key = ws_dispatched_key(queue)
    if redis.call("HINCRBY", key, ws_name(ws), -1) <= 0 then
      redis.call("HDEL", key, ws_name(ws))
    end
  end
end

-- -- Ready lines -------------------------------------------------------------------------

-- Jobs made ready during this script call, per queue (to count those a limit holds back).
local FRESH = {}

local function ready_count_key(queue) return qkey(queue, "ready") end
local function ready_ring(queue, prio) return qkey(queue, "ready:" .. prio) end
local function ready_line(queue, prio, ws) return ready_ring(queue, prio) .. ":" .. ws end

-- Make job `id` ready: waiting, on no message, at the back of its workspace's line at its
-- priority, or at the front when `first` (a job handed back keeps its turn). `at`: its wait
-- counts from then (enqueuedAt, epoch ms; default NOW): the due time of a job staged early.
-- The waiting index is scored NOW either way, so a drain of what is waiting now takes it.
local function make_ready(id, queue, old_state, first, at)
  local key = job_key(id)
  local f = redis.call("HMGET", key, "prio", "ws")
  local prio = tonumber(f[1]) or DEFAULT_PRIORITY
  local ws = ws_name(f[2])
  local line = ready_line(queue, prio, ws)
  local push = first and "LPUSH" or "RPUSH"
  if redis.call(push, line, id) == 1 then redis.call(push, ready_ring(queue, prio), ws) end
  redis.call("INCR", ready_count_key(queue))
  redis.call("HSET", key, "msg", "")
  if not first then redis.call("HSET", key, "enqueuedAt", at or NOW_TEXT) end
  if old_state ~= "waiting" then set_state(id, queue, old_state, "waiting", NOW_TEXT) end
  if not FRESH[queue] then FRESH[queue] = {} end
  FRESH[queue][id] = true
end

-- Hand `ids` to Dramatiq (as its Redis broker enqueues) in ONE message carrying them all: a
-- worker then starts and finishes them with one round trip per handful, not per job. Each job
-- remembers the message id, so a stale copy of an older message is recognised and skipped.
-- With `hold` (epoch ms), the message waits in Q:mq:held until then (release_held).
local function enqueue_message(queue, actor, ids, at_ms, hold)
  local first = job_key(ids[1])
  local msg_id = ids[1] .. "." .. redis.call("HINCRBY", first, "enq", 1)
  if #ids > 1 then msg_id = msg_id .. "+" .. (#ids - 1) end
  local message = cjson.encode({
    queue_name = queue, actor_name = actor, args = {ids}, kwargs = {},
    options = {redis_message_id = msg_id}, message_id = msg_id, message_timestamp = NOW})
  redis.call("HSET", qkey(queue, "mq:msgs"), msg_id, message)
  if hold then
    redis.call("ZADD", qkey(queue, "mq:held"), hold, msg_id)
  else
    redis.call("RPUSH", qkey(queue, "mq"), msg_id)
  end
  for i, id in ipairs(ids) do
    if i > 1 then redis.call("HINCRBY", job_key(id), "enq", 1) end
    redis.call("HSET", job_key(id), "msg", msg_id, "dispatchedAt", at_ms)
  end
end

local WAKE_TOKENS = 16

-- Wake up to `messages` idle workers of `queue` (each takes a message within a round trip).
local function wake_workers(queue, messages)
  if messages <= 0 then return end
  local wake = qkey(queue, "wake")
  for _ = 1, math.min(messages, WAKE_TOKENS) do redis.call("RPUSH", wake, 1) end
  redis.call("LTRIM", wake, 0, WAKE_TOKENS - 1)
end

-- Enqueue `ids` (all of `queue`'s `actor`) in messages of at most `size`, then wake workers;
-- with `hold`, the messages are held until then (enqueue_message) and wake no one yet.
local function enqueue_chunks(queue, actor, ids, size, at_ms, hold)
  local chunk, messages = {}, 0
  for _, id in ipairs(ids) do
    chunk[#chunk + 1] = id
    if #chunk >= size then
      enqueue_message(queue, actor, chunk, at_ms, hold)
      chunk, messages = {}, messages + 1
    end
  end
  if #chunk > 0 then
    enqueue_message(queue, actor, chunk, at_ms, hold)
    messages = messages + 1
  end
  if not hold then wake_workers(queue, messages) end
end

-- Put `queue`'s held messages whose time has come (by NOW) on its list, in the order they
-- were due, and wake workers for them; how many.
local function release_held(queue)
  local held = qkey(queue, "mq:held")
  local due = redis.call("ZRANGEBYSCORE", held, "-inf", NOW)
  if #due == 0 then return 0 end
  local list = qkey(queue, "mq")
  for _, msg_id in ipairs(due) do redis.call("RPUSH", list, msg_id) end
  redis.call("ZREMRANGEBYSCORE", held, "-inf", NOW)
  wake_workers(queue, #due)
  return #due
end

-- Room the limits leave for dispatching `queue`'s jobs now: concurrency (or the dispatch cap)
-- counts jobs active or on a message; the rate limit counts starts in the window plus jobs on
-- a message (each will start soon). A rate slot that frees within `lead_us` counts as free:
-- its job reaches a worker early and waits there for the exact moment (start.lua), so the
-- limiter loses no time to polling or hand-over.
local function queue_room(queue, cfg, now_us)
  local on_message = redis.call("ZCARD", dispatched_key(queue))
  local room = cfg.cap - on_message - redis.call("ZCARD", state_key(queue, "active"))
  if cfg.rate then
    local started = starts_in_window(starts_key(queue), now_us, cfg.rate[2], cfg.lead_us)
    room = math.min(room, cfg.rate[1] - started - on_message)
  end
  return room
end

-- Hand ready jobs of `queue` to Dramatiq, as many as its limits allow: the highest priority
-- first; within a priority, one job per workspace in turn (round robin), each workspace within
-- its own limit; FIFO within a workspace. Returns the number dispatched.
-- `whole`: only when a whole message's worth (the queue's batch) can go, or every ready job:
-- a finishing job hands on room in full messages, which costs workers far less per job
-- than many small ones (the scheduler's tick sends whatever room there is). `hold`: the
-- messages wait in Q:mq:held until then (epoch ms; jobs staged before they are due).
local function dispatch(queue, whole, hold)
  local fresh = FRESH[queue] or {}
  FRESH[queue] = nil
  local held = 0
  for _ in pairs(fresh) do held = held + 1 end
  local ready = tonumber(redis.call("GET", ready_count_key(queue)) or 0)
  if ready <= 0 or is_paused(queue) then return 0 end
  local cfg = queue_cfg(queue)
  local now_us = redis_now_us()
  local room = queue_room(queue, cfg, now_us)
  if whole and room < math.min(cfg.batch, ready) then return 0 end
  local now_us_text = string.format("%d", now_us)
  local popped = 0
  local taken, actor = {}, nil
  local ws_room = {}
  local per_ws = ws_dispatched_key(queue)
  for prio = 1, PRIORITIES do
    if room <= 0 then break end
    local ring = ready_ring(queue, prio)
    local blocked = 0
    while room > 0 do
      local ws = redis.call("LPOP", ring)
      if not ws then break end
      if cfg.ws and ws_room[ws] == nil then
        ws_room[ws] = cfg.ws[1]
          - starts_in_window(starts_key(queue, ws), now_us, cfg.ws[2], cfg.lead_us)
          - tonumber(redis.call("HGET", per_ws, ws) or 0)
      end
      if cfg.ws and ws_room[ws] <= 0 then
        redis.call("RPUSH", ring, ws)  -- this workspace is at its own limit: skip it
        blocked = blocked + 1
        if blocked >= redis.call("LLEN", ring) then break end
      else
        local line = ready_line(queue, prio, ws)
        local id = redis.call("LPOP", line)
        if id then popped = popped + 1 end
        local f = id and redis.call("HMGET", job_key(id), "state", "msg", "actor")
        if f and f[1] == "waiting" and f[2] == "" then  -- else stale: cancelled or moved on
          taken[#taken + 1] = id
          actor = f[3]
          room = room - 1
          if cfg.ws then ws_room[ws] = ws_room[ws] - 1 end
          blocked = 0
          redis.call("ZADD", dispatched_key(queue), now_us_text, id)
          if cfg.ws then redis.call("HINCRBY", per_ws, ws, 1) end
          if fresh[id] then held = held - 1 end
        end
        if redis.call("LLEN", line) > 0 then redis.call("RPUSH", ring, ws) end
      end
    end
  end
  if popped > 0 then redis.call("DECRBY", ready_count_key(queue), popped) end
  if cfg.limited then count_event(queue, "deferred", held) end
  if #taken > 0 then
    local at = hold or string.format("%d", math.floor(now_us / 1000))
    enqueue_chunks(queue, actor, taken, cfg.batch, at, hold)
  end
  return #taken
end

-- Dispatch every queue that had jobs made ready (or slots freed) in this call; `whole`: see
-- dispatch.
local function dispatch_fresh(whole)
  local queues = {}
  for queue in pairs(FRESH) do queues[#queues + 1] = queue end
  for _, queue in ipairs(queues) do dispatch(queue, whole) end
end

-- Queue the follow-up jobs of a finished one (failure notice, webhook) in this queue's outbox:
-- they belong to other queues (other slots), where the scheduler creates them under the ids
-- given here (exactly once). `follow_ups`: decoded JSON list of {id, queue, data (a JSON
-- string), max}; they inherit the finished job's workspace, contact and organisation.
local function write_follow_ups(follow_ups, ws, ct, org)
  for _, f in ipairs(follow_ups) do
    redis.call("RPUSH", qkey(QUEUE, "outbox"), cjson.encode({id = f.id, queue = f.queue,
      data = f.data, max = f.max, ws = ws or "", ct = ct or "", org = org or ""}))
  end
end

-- Add a finished job's AI usage to its organisation's totals.
local function add_usage(org, usage)
  local key = qkey(QUEUE, "usage:" .. (org ~= "" and org or "-"))
  redis.call("HINCRBY", key, usage.kind .. ":jobs", 1)
  redis.call("HINCRBY", key, usage.kind .. ":tokens", usage.tokens)
  redis.call("HINCRBYFLOAT", key, usage.kind .. ":costCents", usage.costCents)
end

-- -- Attempt history ----------------------------------------------------------------------

-- The last HISTORY_ATTEMPTS attempts of a job, in its record (field `history`, a JSON list):
-- {n, outcome, startedAt, finishedAt, error (cut to HISTORY_ERROR_CHARS), calls = [{url,
-- status, ms, webhookId, ok, error}]}, for the dashboard's job page.
local HISTORY_ATTEMPTS, HISTORY_ERROR_CHARS = 25, 4000

-- The attempt history `raw` (its JSON, or false/nil) with one more attempt, as JSON.
local function attempt_history(raw, n, outcome, started, error_text, calls)
  local list = raw and cjson.decode(raw) or {}
  local entry = {n = tonumber(n) or 0, outcome = outcome, startedAt = tonumber(started),
    finishedAt = NOW}
  if error_text and error_text ~= "" then
    entry.error = string.sub(error_text, 1, HISTORY_ERROR_CHARS)
  end
  if calls and #calls > 0 then entry.calls = calls end
  list[#list + 1] = entry
  while #list > HISTORY_ATTEMPTS do table.remove(list, 1) end
  return cjson.encode(list)
end

-- -- Removal -----------------------------------------------------------------------------

-- Delete the job record and every index entry that names it (a stale entry left in a ready
-- line is skipped by dispatch).
local function remove_job(id)
  local key = job_key(id)
  local f = redis.call("HMGET", key, "queue", "state", "ws", "ct", "msg", "idx", "idem")
  if not f[1] then return 0 end
  if f[7] then  -- its client-chosen id ("<scope>:<key>"), freed with it
    local idem = qkey(f[1], "idem:" .. f[7])
    if redis.call("HGET", idem, "job") == id then redis.call("DEL", idem) end
  end
  for name in string.gmatch(f[6] or "", "%S+") do
    redis.call("ZREM", qkey(f[1], "idx:" .. name), id)
  end
  redis.call("ZREM", state_key(f[1], f[2]), id)
  redis.call("ZREM", leases_key(f[1]), id)
  if f[2] == "waiting" and f[5] and f[5] ~= "" then undispatch(f[1], id, f[3]) end
  redis.call("DEL", key)
  return 1
end

-- -- Keep policies ----------------------------------------------------------------------

-- Most jobs one call deletes to honour a keep policy (the rest go with later finishes).
local KEEP_TRIM_MAX = 1000

-- A job that ended in `state` under a keep policy {count?, age? (seconds)}: count 0 deletes it
-- at once; else it joins its organisation's listing index of such jobs of this queue and state
-- (Q:idx:kept:<state>:<org>, deleted with the job), and that index's jobs beyond the newest
-- `count` (in finishing order), or finished more than `age` seconds ago, are deleted. Another
-- organisation's jobs, and jobs without a policy, are never touched (queue retention still
-- applies to all).
local function keep_jobs(id, state, org, keep)
  local count = tonumber(keep.count)
  if count == 0 then remove_job(id) return end
  local name = "kept:" .. state .. ":" .. ((org and org ~= "") and org or "-")
  local index = qkey(QUEUE, "idx:" .. name)
  local key = job_key(id)
  local idx = redis.call("HGET", key, "idx")
  redis.call("HSET", key, "idx", (idx and idx ~= "") and (idx .. " " .. name) or name)
  -- jobs finished in the same ms rank in finishing order (ids alone would rank them at random)
  local newest = redis.call("ZRANGE", index, -1, -1, "WITHSCORES")[2]
  local score = NOW
  if newest and tonumber(newest) >= NOW then score = tonumber(newest) + 0.001 end
  redis.call("ZADD", index, score, id)
  local victims = {}
  if keep.age then
    local cutoff = NOW - tonumber(keep.age) * 1000
    victims = redis.call("ZRANGEBYSCORE", index, "-inf", "(" .. cutoff, "LIMIT", 0, KEEP_TRIM_MAX)
  end
  if count then
    local excess = math.min(redis.call("ZCARD", index) - count, KEEP_TRIM_MAX) - #victims
    if excess > 0 then
      for _, old in ipairs(redis.call("ZRANGE", index, #victims, #victims + excess - 1)) do
        victims[#victims + 1] = old
      end
    end
  end
  for _, old in ipairs(victims) do  -- one retried since (failed -> waiting) only leaves
    if redis.call("HGET", job_key(old), "state") == state then remove_job(old) end
    redis.call("ZREM", index, old)
  end
end

-- A job's removeOnComplete/removeOnFail option (decoded JSON) as `keep_jobs` takes it, or nil
-- (the same mapping as jobs/store.py `keep_policy`): true -> count 0, N -> count N, {age, count}.
local function keep_of(option)
  if option == true then return {count = 0} end
  if type(option) == "number" then return {count = option} end
  if type(option) == "table" and (option.age or option.count) then
    return {age = option.age, count = option.count}
  end
  return nil
end
