-- A release, first part: ARGV 6 lease member, 7 permits, 8 fencing token (KEYS and ARGV
-- 1..5 as in prelude.lua). The lease is named by all of it and by this process's id, so
-- only its holder can remove it. When nobody waits, this is the whole release: no clock,
-- no configuration read, nothing to grant or announce.
local time, cfg
local lease = ARGV[6] .. ' ' .. ARGV[2] .. ' ' .. ARGV[7] .. ' ' .. ARGV[8]
if redis.call('EXISTS', KEYS[3]) == 0 then
  if redis.call('ZREM', KEYS[2], lease) == 1 then
    redis.call('HINCRBY', KEYS[1], 'used', -ARGV[7])
    return 'released'
  end
  return 'missing'
end
-- Someone waits: the permits in use are counted down with the rest, in one write.
local released = redis.call('ZREM', KEYS[2], lease) == 1
