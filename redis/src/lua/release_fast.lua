-- A release, first part: ARGV 6 lease member, 7 permits, 8 fencing token (KEYS and ARGV
-- 1..5 as in prelude.lua). The lease is named by all of it and by this process's id, so
-- only its holder can remove it. When nobody waits, this is the whole release: no clock,
-- no configuration read, nothing to grant or announce.
local time, cfg
local status = 'missing'
if redis.call('ZREM', KEYS[2], ARGV[6] .. ' ' .. ARGV[2] .. ' ' .. ARGV[7] .. ' ' .. ARGV[8]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'used', -ARGV[7])
  status = 'released'
end
if redis.call('EXISTS', KEYS[3]) == 0 then
  return status
end
