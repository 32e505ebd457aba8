-- An arrival, the general rule (the fast path at the top of the script did not grant it):
-- ARGV 6 priority, 7 permits, 8 'wait', 'try' or 'fast', 9 '1' when this process
-- already has other waiters (see acquire_fast.lua).
-- 'fast' is the caller's own first attempt: granted by the rule of 'wait', but never
-- queued (the process's thread queues it, with a new arrival number, if it must wait).
local n = tonumber(ARGV[7])
-- Expired leases matter only if this arrival does not fit in the free permits.
if n > LIMIT - used then expire_leases() end
-- The front is nil when no permit is free: nobody can be granted then, this arrival
-- included.
local front = serve()
if closed then
  save()
  return { 'closed', 0, '', {}, mine, NOW_US }
end
if n > LIMIT then
  save()
  return { 'too_many', LIMIT, '', {}, mine, NOW_US }
end
-- The arrival number: the next value of the counter, and never below the server time in
-- microseconds, so that it keeps growing after Redis lost the counter and a waiter queued
-- before the loss keeps its place ahead of later arrivals. Only a request that is granted
-- or joins the line takes it; a try or fast attempt that fails leaves no trace.
local number = math.max(arrival + 1, NOW_US)
local member = ARGV[6] .. string.format('%016x', number)
-- No barging: a plain acquire may only go first when it is ahead of the whole line; a
-- try_acquire only when nobody waits at all (the core crate's rule).
local ahead = (not front) or (ARGV[8] ~= 'try' and member < front)
if ahead and n <= LIMIT - used and granting() then
  arrival = number
  local token = grant(member, CLIENT, n, 0, NOW_MS + LEASE_MS)
  save()
  return { 'granted', token, member, {}, mine, NOW_US }
end
if ARGV[8] ~= 'wait' then
  save()
  return { 'busy', 0, '', {}, mine, NOW_US }
end
arrival = number
local current = redis.call('HGET', K_CLIENTS, CLIENT)
local current_member, _, current_n, current_more
if current then current_member, _, current_n, current_more = parse_entry(current) end
if (not current) or member < current_member then
  -- This process's new best waiter: it replaces the process's place in the line (the
  -- one it replaces, if any, stays queued in the process, behind it).
  local more = '0'
  if current or ARGV[9] == '1' then more = '1' end
  set_entry(current, member, n, more)
else
  -- A better waiter of this process is already in line: remember that more follow it.
  if current_n > 0 and current_more ~= '1' then
    local entry = entry_of(current_member, CLIENT, current_n, '1')
    redis.call('ZREM', K_LINE, current)
    redis.call('ZADD', K_LINE, '0', entry)
    redis.call('HSET', K_CLIENTS, CLIENT, entry)
  end
  redis.call('ZADD', K_ALIVE, fmt(NOW_MS + ALIVE_MS), CLIENT)
end
save()
if #mine == 0 then return 'queued 0 ' .. member end -- one string, as for a release
return { 'queued', 0, member, {}, mine, NOW_US }
