-- Sets this process's place in the line to its current best waiter (after a grant, a
-- cancellation, or a lapse): ARGV 6 member ('' to leave the line), 7 permits, 8 more.
if closed then
  save()
  return { 'closed', 0, '', {}, mine }
end
expire()
serve()
local member = ARGV[6]
if member ~= '' then
  local value = redis.call('HGET', K_HELD, member)
  if value then
    -- Already granted (the process had not heard yet): report it, change nothing.
    local client, n, token = parse_held(value)
    if client == CLIENT then report(member, n, token) end
    save()
    return { 'stale', 0, '', {}, mine }
  end
end
set_entry(member, tonumber(ARGV[7]), ARGV[8])
serve()
save()
return { 'entered', 0, member, {}, mine }
