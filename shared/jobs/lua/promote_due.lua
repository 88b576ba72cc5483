-- Make up to `limit` delayed jobs of the queue that are due by NOW ready, then dispatch it as
-- its limits allow (also when nothing was due: a limiter window may have moved on).
-- With `ahead` (ms), a queue without limits also stages jobs due within that much time: they
-- are made ready and put on messages now, and each message is held back (Q:mq:held) until the
-- last of its jobs is due; a group is the jobs due within `group` ms of its first. Held
-- messages whose time has come join the queue's list first. So a burst of jobs due in the
-- same millisecond costs nothing at its due time but one push per message: the per-job work
-- (state, lines, messages) was done before. A job never starts before its due time; it may
-- start up to `group` ms after it. A queue with limits, or paused, is not staged: its room is
-- decided at the moment of dispatch.
-- Atomic: a job is never moved twice nor lost between the two, whatever schedulers run.
-- ARGV after HEAD: limit, ahead (ms, 0: none), group (ms).
-- Returns {jobs made ready or staged, ms until the next held message or delayed job is due
-- (-1: none)}.
local limit = tonumber(ARGV[HEAD + 1])
local ahead, group = tonumber(ARGV[HEAD + 2]) or 0, tonumber(ARGV[HEAD + 3]) or 0
local delayed = state_key(QUEUE, "delayed")

-- Make delayed job `id` ready (at `at`, epoch ms as text); false for a stray entry.
local function promote(id, at)
  if redis.call("HGET", job_key(id), "state") == "delayed" then
    make_ready(id, QUEUE, "delayed", false, at)
    return true
  end
  redis.call("ZREM", delayed, id)  -- a stray entry: drop it
  return false
end

-- Stage up to `most` jobs due after NOW and within `ahead` ms, a group per held message
-- (or several, of the queue's batch each); how many were staged.
local function stage(most)
  local soon = redis.call("ZRANGEBYSCORE", delayed, "(" .. NOW, NOW + ahead, "WITHSCORES",
    "LIMIT", 0, most)
  if #soon == 0 then return 0 end
  local cfg = queue_cfg(QUEUE)
  if cfg.limited or is_paused(QUEUE) then return 0 end
  local staged, first = 0, 1
  while first < #soon do
    local last, start_due = first, tonumber(soon[first + 1])
    while last + 2 < #soon and tonumber(soon[last + 3]) - start_due <= group do
      last = last + 2
    end
    -- only while the group fits whole (it must not wait in a line for a message unheld)
    local ready = tonumber(redis.call("GET", ready_count_key(QUEUE)) or 0)
    if ready > 0 or queue_room(QUEUE, cfg, redis_now_us()) < (last - first) / 2 + 1 then
      break
    end
    for i = first, last, 2 do promote(soon[i], soon[i + 1]) end
    staged = staged + dispatch(QUEUE, false, soon[last + 1])
    first = last + 2
  end
  return staged
end

-- Ms until the earliest held message or delayed job is due (0 when due now), -1 for none.
local function next_due_in()
  local times = {}
  for _, key in ipairs({qkey(QUEUE, "mq:held"), delayed}) do
    local earliest = redis.call("ZRANGE", key, 0, 0, "WITHSCORES")[2]
    if earliest then times[#times + 1] = tonumber(earliest) end
  end
  if #times == 0 then return -1 end
  return math.max(0, math.min(unpack(times)) - NOW)
end

release_held(QUEUE)
local ids = redis.call("ZRANGEBYSCORE", delayed, "-inf", NOW, "LIMIT", 0, limit)
for _, id in ipairs(ids) do promote(id) end
dispatch(QUEUE)
local moved = #ids
if ahead > 0 and moved < limit then moved = moved + stage(limit - moved) end
return {moved, next_due_in()}
