-- The background call of each process (every lease / 3, and as the fallback poll):
-- renews its leases (ARGV 6.. the lease members it holds) and its place in the line,
-- reports leases it lost, grants it has not heard of, and its place in the line.
expire()
serve()
local renewing = {}
local lost = {}
for i = 6, #ARGV do
  local member = ARGV[i]
  renewing[member] = true
  local value = redis.call('HGET', K_HELD, member)
  local ok = false
  if value then
    local client = parse_held(value)
    ok = client == CLIENT
  end
  if ok then
    redis.call('ZADD', K_HOLDERS, 'XX', NOW_MS + LEASE_MS, member)
  else
    table.insert(lost, member)
  end
end
local all = redis.call('HGETALL', K_HELD)
for i = 1, #all, 2 do
  local member = all[i]
  local client, n, token = parse_held(all[i + 1])
  if client == CLIENT and not renewing[member] then
    local known = false
    for j = 1, #mine, 4 do
      if mine[j] == member then known = true end
    end
    if not known then report(member, n, token) end
  end
end
local current = redis.call('HGET', K_CLIENTS, CLIENT)
local place = ''
local place_n = 0
if current then
  redis.call('ZADD', K_ALIVE, NOW_MS + ALIVE_MS, CLIENT)
  place = current
  local _, n = parse_entry(redis.call('HGET', K_ENTRIES, current))
  place_n = n
end
save()
local state = 'open'
if closed then state = 'closed' end
return { state, place_n, place, lost, mine }
