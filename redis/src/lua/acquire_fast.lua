-- An arrival, first part: the uncontended case in the fewest commands and the least Lua,
-- before the prelude (which a grant here never runs). KEYS and ARGV as in prelude.lua;
-- ARGV 6 priority (16 hex digits, order-preserving), 7 permits, 8 'wait', 'try' or
-- 'fast', 9 '1' when this process already has other waiters.
-- Granted here only when the semaphore exists and is open, its limit is this process's,
-- nobody waits (the line is empty), enough permits are free without looking for expired
-- leases, and the grace period is over: then the arrival is ahead of everyone, whatever
-- the mode. Anything else goes on to the general rule below, which reuses what was read.
local time = redis.call('TIME')
local cfg = redis.call('HMGET', KEYS[1], 'limit', 'used', 'closed', 'grace_until', 'fence', 'arrival')
if cfg[3] == '0' and cfg[1] == ARGV[3] and redis.call('EXISTS', KEYS[3]) == 0 then
  local n = tonumber(ARGV[7])
  local now_ms = time[1] * 1000 + math.floor(time[2] / 1000)
  if n <= cfg[1] - cfg[2] and now_ms >= tonumber(cfg[4]) then
    -- The arrival number and the fencing token, as acquire.lua and grant() (prelude.lua)
    -- take them: the next of each counter, never below the server time in microseconds.
    local now_us = time[1] * 1000000 + time[2]
    local arrival = math.max((tonumber(cfg[6]) or 0) + 1, now_us)
    local fence = string.format('%d', math.max((tonumber(cfg[5]) or 0) + 1, now_us))
    local member = ARGV[6] .. string.format('%016x', arrival)
    redis.call('ZADD', KEYS[2], now_ms + ARGV[4], member .. ' ' .. ARGV[2] .. ' ' .. ARGV[7] .. ' ' .. fence)
    redis.call('HSET', KEYS[1], 'used', cfg[2] + n, 'fence', fence, 'arrival', string.format('%d', arrival))
    return 'granted ' .. fence .. ' ' .. member -- one string: cheaper to answer than a table
  end
end
