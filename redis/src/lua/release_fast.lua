-- A release, first part: ARGV 6 lease member, 7 permits, 8 fencing token (KEYS and ARGV
-- 1..5 as in prelude.lua). The lease is named by all of it and by this process's id, so
-- only its holder can remove it. The two common cases end here, before the prelude.
local time, cfg
local lease = ARGV[6] .. ' ' .. ARGV[2] .. ' ' .. ARGV[7] .. ' ' .. ARGV[8]
local front = redis.call('ZRANGE', KEYS[3], '0', '0')[1]
if not front then
  -- Nobody waits: no clock, no configuration read, nothing to grant or announce.
  if redis.call('ZREM', KEYS[2], lease) == 1 then
    redis.call('HINCRBY', KEYS[1], 'used', '-' .. ARGV[7])
    return 'released'
  end
  return 'missing'
end
-- Someone waits: the permits in use are counted down with the rest, in one write.
local released = redis.call('ZREM', KEYS[2], lease) == 1
if released then
  -- The hand-off: the front is one waiter of another live process that the freed
  -- permits fit, and after its grant no permit is free, so serve() (prelude.lua) would
  -- grant it and stop. Done here as serve() and grant() do it. Anything else (closed,
  -- a grace period, another limit, a barrier, a dead process, this process, permits
  -- left over) goes on to the general rule, which reuses the clock and the
  -- configuration read here (the same fields, in the same order).
  time = redis.call('TIME')
  cfg = redis.call('HMGET', KEYS[1], 'limit', 'used', 'closed', 'grace_until', 'fence', 'arrival')
  local member, client, n, more = string.match(front, '^(%S+) (%S+) (%d+) (%d)$')
  local now_ms = time[1] * 1000 + math.floor(time[2] / 1000)
  if cfg[3] == '0' and cfg[1] == ARGV[3] and now_ms >= tonumber(cfg[4]) and more == '0'
    and client and client ~= ARGV[2] then
    local used = cfg[2] - ARGV[7]
    local permits = tonumber(n) -- `n` stays a string: Lua would format the number as '%.14g'
    if permits >= 1 and used + permits == tonumber(cfg[1]) then
      local alive = tonumber(redis.call('ZSCORE', KEYS[6], client))
      if alive and alive > now_ms then
        -- Its lease runs until its place in the line would expire (see serve()).
        local fence = math.max((tonumber(cfg[5]) or 0) + 1, time[1] * 1000000 + time[2])
        local token, expiry = string.format('%d', fence), string.format('%d', alive)
        redis.call('ZADD', KEYS[2], expiry, member .. ' ' .. client .. ' ' .. n .. ' ' .. token)
        redis.call('ZREM', KEYS[3], front)
        redis.call('HDEL', KEYS[5], client)
        redis.call('PUBLISH', ARGV[1] .. ':' .. client,
          client .. ' ' .. member .. ' ' .. n .. ' ' .. token .. ' 0 ' .. expiry)
        redis.call('HSET', KEYS[1], 'used', cfg[1], 'fence', token)
        return 'released'
      end
    end
  end
end
