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

-- Move job `id` from its current state index to `new_state`, scored `score`.
local function set_state(prefix, job_key, id, queue, old_state, new_state, score)
  if old_state then redis.call("ZREM", state_key(prefix, queue, old_state), id) end
  redis.call("ZADD", state_key(prefix, queue, new_state), score, id)
  redis.call("HSET", job_key, "state", new_state)
end

-- Hand the job to Dramatiq (as its Redis broker enqueues) with a fresh message id; the job
-- remembers that id, so a stale copy of an older message is recognised and skipped.
local function enqueue(prefix, ns, job_key, id, queue, actor, old_state, now)
  local n = redis.call("HINCRBY", job_key, "enq", 1)
  local msg_id = id .. "." .. n
  local message = cjson.encode({
    queue_name = queue, actor_name = actor, args = {id}, kwargs = {},
    options = {redis_message_id = msg_id}, message_id = msg_id, message_timestamp = now})
  redis.call("HSET", ns .. ":" .. queue .. ".msgs", msg_id, message)
  redis.call("RPUSH", ns .. ":" .. queue, msg_id)
  redis.call("HSET", job_key, "msg", msg_id, "enqueuedAt", now)
  set_state(prefix, job_key, id, queue, old_state, "waiting", now)
  return msg_id
end

-- Delete the job record and every index entry that names it.
local function remove_job(prefix, id)
  local job_key = prefix .. ":job:" .. id
  local f = redis.call("HMGET", job_key, "queue", "state", "ws", "ct")
  if not f[1] then return 0 end
  redis.call("ZREM", state_key(prefix, f[1], f[2]), id)
  if f[3] and f[3] ~= "" then
    redis.call("ZREM", prefix .. ":idx:ws:" .. f[3], id)
    if f[4] and f[4] ~= "" then
      redis.call("ZREM", prefix .. ":idx:ct:" .. f[3] .. ":" .. f[4], id)
    end
  end
  redis.call("DEL", job_key)
  return 1
end
