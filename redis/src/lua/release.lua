-- A release: ARGV 6 lease member. Frees its permits and grants the line in the same call.
local status = 'missing'
local value = redis.call('HGET', K_HELD, ARGV[6])
if value then
  local client, n = parse_held(value)
  if client == CLIENT then
    used = used - n
    redis.call('HDEL', K_HELD, ARGV[6])
    redis.call('ZREM', K_HOLDERS, ARGV[6])
    status = 'released'
  end
end
if redis.call('EXISTS', K_LINE) == 1 then
  -- Someone waits: the freed permits, and any that expired, go to the line now.
  expire()
  serve()
end
save()
return { status, 0, '', {}, mine }
