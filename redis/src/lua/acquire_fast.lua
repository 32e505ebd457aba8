-- An arrival, first part: the two common cases in the fewest commands and the least Lua,
-- before the prelude (which neither runs). KEYS and ARGV as in prelude.lua; ARGV 6
-- priority (16 hex digits, order-preserving), 7 permits, 8 'wait', 'try' or 'fast', 9 '1'
-- when this process already has other waiters. Both need the semaphore to exist, be
-- open, and have this process's limit. Anything else goes on to the general rule below,
-- which reuses what was read. Numbers go to Redis as strings formatted here with '%d':
-- Redis formats a Lua number with '%.17g', which costs more than the command.
local time = redis.call('TIME')
local cfg = redis.call('HMGET', KEYS[1], 'limit', 'used', 'closed', 'grace_until', 'fence', 'arrival')
if cfg[3] == '0' and cfg[1] == ARGV[3] then
  local n = tonumber(ARGV[7])
  local free = cfg[1] - cfg[2]
  local now_ms = time[1] * 1000 + math.floor(time[2] / 1000)
  -- The arrival number (and the fencing token), as acquire.lua (and grant() in
  -- prelude.lua) take them: the next of each counter, never below the server time in µs.
  local now_us = time[1] * 1000000 + time[2]
  local arrival = math.max((tonumber(cfg[6]) or 0) + 1, now_us)
  -- Uncontended: nobody waits (the line is empty), enough permits are free without
  -- looking for expired leases, and the grace period is over: the arrival is ahead of
  -- everyone, whatever the mode. Granted.
  if n <= free and now_ms >= tonumber(cfg[4]) and redis.call('EXISTS', KEYS[3]) == 0 then
    local fence = string.format('%d', math.max((tonumber(cfg[5]) or 0) + 1, now_us))
    local member = ARGV[6] .. string.format('%016x', arrival)
    redis.call('ZADD', KEYS[2], string.format('%d', now_ms + ARGV[4]),
      member .. ' ' .. ARGV[2] .. ' ' .. ARGV[7] .. ' ' .. fence)
    redis.call('HSET', KEYS[1], 'used', string.format('%d', cfg[2] + n), 'fence', fence,
      'arrival', string.format('%d', arrival))
    return 'granted ' .. fence .. ' ' .. member -- one string: cheaper to answer than a table
  end
  -- Contended: a waiting arrival of a process with no other waiter while every permit is
  -- in use and no lease has expired. Nobody can be granted now, this arrival included,
  -- so the line's front does not matter; the process has no place in the line (if it
  -- has one, the general rule decides): it joins the line, as the general rule would.
  if free <= 0 and n >= 1 and n <= tonumber(cfg[1]) and ARGV[8] == 'wait' and ARGV[9] == '0'
    and not redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', string.format('%d', now_ms), 'LIMIT', '0', '1')[1]
    and not redis.call('HGET', KEYS[5], ARGV[2]) then
    local member = ARGV[6] .. string.format('%016x', arrival)
    -- The line entry "member client n more" (prelude.lua), nobody behind it.
    local entry = member .. ' ' .. ARGV[2] .. ' ' .. ARGV[7] .. ' 0'
    redis.call('ZADD', KEYS[3], '0', entry)
    redis.call('HSET', KEYS[5], ARGV[2], entry)
    redis.call('ZADD', KEYS[6], string.format('%d', now_ms + ARGV[4]), ARGV[2])
    redis.call('HSET', KEYS[1], 'arrival', string.format('%d', arrival))
    return 'queued 0 ' .. member
  end
end
