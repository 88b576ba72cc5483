"""The job engine: job store and its Lua, dispatch, runner, scheduler loop, broker,
liveness and the queue table."""
