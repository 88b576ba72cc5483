-- Cancel a delayed or waiting job: its record and index entries are deleted; a message already
-- in Dramatiq's queue is skipped when a worker takes it.
-- ARGV: prefix, id.  Returns "cancelled", "missing", or the state that forbids it.
local prefix, id = ARGV[1], ARGV[2]
local state = redis.call("HGET", prefix .. ":job:" .. id, "state")
if not state then return "missing" end
if state ~= "delayed" and state ~= "waiting" then return state end
remove_job(prefix, id)
return "cancelled"
