-- Sets this process's place in the line to its current best waiter (after a grant, a
-- cancellation, or a lapse): ARGV 6 member ('' to leave the line), 7 permits, 8 more.
if closed then
  save()
  return { 'closed', 0, '', {}, mine, NOW_US }
end
expire_leases()
serve()
local member = ARGV[6]
if member ~= '' then
  local id = find_lease(member)
  if id then
    -- Already granted (the process had not heard yet): report it, change nothing.
    local _, _, n, token = parse_lease(id)
    report(member, n, token)
    save()
    return { 'stale', 0, '', {}, mine, NOW_US }
  end
end
set_entry(redis.call('HGET', K_CLIENTS, CLIENT), member, tonumber(ARGV[7]), ARGV[8])
serve()
save()
return { 'entered', 0, member, {}, mine, NOW_US }
