-- Pause or resume a queue. A paused queue starts no new job: ready jobs stay in their lines,
-- a job already on a message goes back to the front of its line when a worker takes it, and
-- jobs already running finish. Resuming dispatches as the queue's limits allow.
-- ARGV after HEAD: queue, action (pause|resume).  Returns the number of jobs dispatched.
local queue, action = ARGV[HEAD + 1], ARGV[HEAD + 2]
if action == "pause" then
  redis.call("SADD", PREFIX .. ":paused", queue)
  return 0
end
redis.call("SREM", PREFIX .. ":paused", queue)
return dispatch(queue)
