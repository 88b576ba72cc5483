-- A standalone script (no _lib.lua: it runs on every queue at every scheduler tick, and the
-- helpers' set-up would cost it most of its time): what the scheduler reads of each queue to
-- tell whether promote_due.lua has anything to do there now.
-- KEYS, three per queue (same slot): its ready counter, its held messages, its delayed jobs.
-- Returns Redis' clock (TIME: seconds, µs), then per queue the ready count and the earliest
-- held and delayed due times (epoch ms as text; false when there is none).
local now = redis.call("TIME")
local out = {now[1], now[2]}
for i = 1, #KEYS, 3 do
  out[#out + 1] = redis.call("GET", KEYS[i]) or "0"
  out[#out + 1] = redis.call("ZRANGE", KEYS[i + 1], 0, 0, "WITHSCORES")[2] or false
  out[#out + 1] = redis.call("ZRANGE", KEYS[i + 2], 0, 0, "WITHSCORES")[2] or false
end
return out
