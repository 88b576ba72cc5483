-- Sliding-window admission across several limits at once, on Redis' own clock (TIME): the
-- request is admitted only if every limit has room, and then counts against all of them.
-- KEYS: one sorted set per limit (request times in microseconds)
-- ARGV: member (unique per request), then per key: max, window_ms
-- Returns {1, 0} when admitted, or {0, retry_after_ms} (until the first slot frees up).
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local member = ARGV[1]
local wait_us = 0
for i, key in ipairs(KEYS) do
  local max, window_us = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1]) * 1000
  redis.call("ZREMRANGEBYSCORE", key, "-inf", now - window_us)
  if redis.call("ZCARD", key) >= max then
    local oldest = redis.call("ZRANGE", key, 0, 0, "WITHSCORES")
    local frees_at = tonumber(oldest[2] or now) + window_us
    wait_us = math.max(wait_us, frees_at - now)
  end
end
if wait_us > 0 then return {0, math.ceil(wait_us / 1000)} end
for i, key in ipairs(KEYS) do
  redis.call("ZADD", key, now, member)
  redis.call("PEXPIRE", key, tonumber(ARGV[2 * i + 1]))
end
return {1, 0}
