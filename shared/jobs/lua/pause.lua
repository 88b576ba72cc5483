-- Pause or resume the queue. A paused queue starts no new job: ready jobs stay in their lines,
-- a job already on a message goes back to the front of its line when a worker takes it, and
-- jobs already running finish. Resuming dispatches as the queue's limits allow.
-- ARGV after HEAD: action (pause|resume).  Returns the number of jobs dispatched.
local action = ARGV[HEAD + 1]
if action == "pause" then
  redis.call("SET", qkey(QUEUE, "paused"), 1)
  return 0
end
redis.call("DEL", qkey(QUEUE, "paused"))
return dispatch(QUEUE)
