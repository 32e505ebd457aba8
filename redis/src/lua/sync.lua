-- The background call of each process (every lease / 3, and as the fallback poll):
-- renews its leases (ARGV 6.. one triple per lease it holds: member, permits, token) and
-- its place in the line, reports leases it lost, grants it has not heard of, and its
-- place in the line.
expire()
serve()
local renewing = {}
local lost = {}
for i = 6, #ARGV, 3 do
  local member = ARGV[i]
  renewing[member] = true
  local id = member .. ' ' .. CLIENT .. ' ' .. ARGV[i + 1] .. ' ' .. ARGV[i + 2]
  if redis.call('ZSCORE', K_HOLDERS, id) then
    redis.call('ZADD', K_HOLDERS, 'XX', NOW_MS + LEASE_MS, id)
  else
    table.insert(lost, member)
  end
end
local all = redis.call('ZRANGE', K_HOLDERS, 0, -1)
for _, id in ipairs(all) do
  local member, client, n, token = parse_lease(id)
  if client == CLIENT and not renewing[member] then
    local known = false
    for j = 1, #mine, 5 do
      if mine[j] == member then known = true end
    end
    if not known then report(member, n, token) end
  end
end
local current = redis.call('HGET', K_CLIENTS, CLIENT)
local place = ''
local place_n = 0
if current then
  redis.call('ZADD', K_ALIVE, fmt(NOW_MS + ALIVE_MS), CLIENT)
  local _
  place, _, place_n = parse_entry(current)
end
save()
local state = 'open'
if closed then state = 'closed' end
return { state, place_n, place, lost, mine, NOW_US }
