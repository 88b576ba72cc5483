-- Cancel a delayed or waiting job: its record and index entries are deleted; a message already
-- in Dramatiq's queue is skipped when a worker takes it.
-- ARGV after HEAD: id.  Returns "cancelled", "missing", or the state that forbids it.
local id = ARGV[HEAD + 1]
local state = redis.call("HGET", job_key(id), "state")
if not state then return "missing" end
if state ~= "delayed" and state ~= "waiting" then return state end
remove_job(id)
return "cancelled"
