-- A rate-limited job is about to write its request to the backend: take a slot in the queue's
-- send window (and its workspace's), or say how long until one frees. The limit the backend
-- sees is the one on writes, not on job starts: a job may start long before its request goes
-- out (a cold connection, a TLS handshake), and counting starts let 54-55 requests of a
-- 50-per-second queue arrive within one second. The window is `duration` plus SEND_MARGIN
-- long, so the moment between the slot and the write (a thread switch, a few ms) cannot let
-- one request too many arrive in a window of `duration` either.
-- ARGV after HEAD: workspace ("" for none), member (unique per write).
-- Returns 0 when the slot is taken, else the ms until one frees (ask again then).
local ws, member = ws_name(ARGV[HEAD + 1]), ARGV[HEAD + 2]
local cfg = queue_cfg(QUEUE)
local now_us = redis_now_us()
local windows = {}
if cfg.rate then windows[#windows + 1] = {qkey(QUEUE, "sends"), cfg.rate} end
if cfg.ws then windows[#windows + 1] = {qkey(QUEUE, "sends:ws:" .. ws), cfg.ws} end
local wait_us = 0
for _, w in ipairs(windows) do
  local window_us = w[2][2] + send_margin_us(w[2][2])
  wait_us = math.max(wait_us, until_room(w[1], now_us, w[2][1], window_us))
end
if wait_us > 0 then return math.ceil(wait_us / 1000) end
for _, w in ipairs(windows) do
  record_start(w[1], now_us, w[2][2] + send_margin_us(w[2][2]), member)
end
return 0
