-- Shared by every script, after its first part (`start.lua`, or a fast path that answers
-- the uncontended case before any of this runs) and before its body; `scripts.rs` joins
-- them. Everything here reads only KEYS and ARGV; no caller text is ever part of the
-- code, so script hashes are fixed.
--
-- KEYS: 1 config  (hash: limit, used, closed, grace_until, fence, arrival)
--       2 holders (zset: lease -> expiry, server ms; a lease is the string
--                  "member client permits token", so it names its holder and its permits)
--       3 line    (zset, all scores 0, so ordered by entry: "member client n more", the
--                  member being priority then arrival (fixed width), n = 0 marking a
--                  barrier, more = 1 when the process has waiters behind this one; one
--                  entry per process, read whole from the front with no second lookup)
--       4 entries (no longer written: an older layout's, deleted with the others)
--       5 clients (hash: client -> its one line entry)
--       6 alive   (zset: client -> expiry of its place in the line, server ms)
-- ARGV: 1 channel (closing; grants go to channel:client), 2 client id, 3 limit, 4 lease ms
--       (also how long a process's place in the line lives without renewal), 5 '1' once
--       the calling process has seen this semaphore exist, then per script.
-- Every table reply is { status, number, member, lost, grants, server time in µs }; a
-- reply with no grant and nothing lost may be one string instead, "status [number
-- [member]]" (scripts.rs reads both).
local K_CONFIG, K_HOLDERS, K_LINE = KEYS[1], KEYS[2], KEYS[3]
local K_ENTRIES, K_CLIENTS, K_ALIVE = KEYS[4], KEYS[5], KEYS[6]
local CHANNEL, CLIENT = ARGV[1], ARGV[2]
local LIMIT, LEASE_MS = tonumber(ARGV[3]), tonumber(ARGV[4])
local ALIVE_MS = LEASE_MS
local SEEN = ARGV[5] == '1'
local RESET = false -- the state was missing and was created afresh by this call

-- The server's clock, never a client's (read by the first part already, or now).
time = time or redis.call('TIME')
local NOW_MS = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local NOW_US = tonumber(time[1]) * 1000000 + tonumber(time[2])

-- The same fields, in the same order, as the fast path of acquire_fast.lua reads.
cfg = cfg or redis.call('HMGET', K_CONFIG, 'limit', 'used', 'closed', 'grace_until', 'fence', 'arrival')
if not cfg[1] then
  -- No state: a new semaphore, or Redis lost its data. Grants wait (a grace period) only
  -- while a holder of a lost lease can still believe it holds: a holder counts its lease
  -- from a renewal sent before the loss, so its belief ends within one lease of the loss.
  -- * The calling process saw the semaphore before: the data was lost (a restart, a
  --   deletion, an eviction) at some time up to now: wait until now + lease.
  -- * Otherwise a loss can only be a restart without data, at the server's start: wait
  --   until start + lease (the latest start the whole seconds of INFO allow). A server up
  --   for longer than a lease grants a brand-new semaphore at once.
  -- Leftovers of a partial loss are dropped with it. A fencing counter or arrival number
  -- that survived stays: both only grow.
  local grace_until
  if SEEN then
    grace_until = NOW_MS + LEASE_MS
  else
    local uptime = string.match(redis.call('INFO', 'server'), 'uptime_in_seconds:(%d+)')
    grace_until = NOW_MS - (tonumber(uptime) or 0) * 1000 + LEASE_MS
  end
  RESET = true
  redis.call('DEL', K_HOLDERS, K_LINE, K_ENTRIES, K_CLIENTS, K_ALIVE)
  redis.call('HSET', K_CONFIG, 'limit', LIMIT, 'used', 0, 'closed', 0,
    'grace_until', grace_until)
  cfg = { tostring(LIMIT), '0', '0', tostring(grace_until), cfg[5], cfg[6] }
end
if tonumber(cfg[1]) ~= LIMIT then
  return { 'limit_mismatch', tonumber(cfg[1]), '', {}, {}, NOW_US }
end
local used = tonumber(cfg[2])
local closed = cfg[3] == '1'
local grace_until = tonumber(cfg[4])
local fence = tonumber(cfg[5] or '0')
local arrival = tonumber(cfg[6] or '0') -- the last arrival number taken
-- As stored: save() writes only what changed.
local saved_used, saved_fence, saved_arrival = used, fence, arrival
local mine = {} -- grants to the calling client: member, n, token, barrier left (0/1), expiry ms, ...

local function fmt(x) return string.format('%d', x) end

-- A line entry: "member client n more" (the line's members and the clients' values), and
-- back.
local function entry_of(member, client, n, more)
  return member .. ' ' .. client .. ' ' .. fmt(n) .. ' ' .. more
end

local function parse_entry(entry)
  local member, client, n, more = string.match(entry, '^(%S+) (%S+) (%d+) (%d)$')
  if not member then
    -- Only an older version of this crate writes bare members in the line.
    error({ err = 'ERR prio-semaphore: a line entry in an older key layout; processes of '
      .. 'different versions share this semaphore' })
  end
  return member, client, tonumber(n), more
end

-- A lease: "member client permits token" (the holders' key), and back.
local function lease_id(member, client, n, token)
  return member .. ' ' .. client .. ' ' .. fmt(n) .. ' ' .. fmt(token)
end

local function parse_lease(id)
  local member, client, n, token = string.match(id, '^(%S+) (%S+) (%d+) (%d+)$')
  if not member then
    -- Only an older version of this crate writes bare members here: mixing versions on
    -- one semaphore is refused loudly rather than miscounted.
    error({ err = 'ERR prio-semaphore: a lease in an older key layout; processes of '
      .. 'different versions share this semaphore' })
  end
  return member, client, tonumber(n), token
end

-- Drops expired leases: their permits come back.
local function expire_leases()
  local dead = redis.call('ZRANGEBYSCORE', K_HOLDERS, '-inf', NOW_MS)
  if #dead > 0 then
    for _, id in ipairs(dead) do
      local _, _, n = parse_lease(id)
      used = used - n
    end
    redis.call('ZREMRANGEBYSCORE', K_HOLDERS, '-inf', NOW_MS)
  end
end

-- Drops a process's place in the line: it stopped renewing it (a killed waiter).
local function drop_place(client)
  local entry = redis.call('HGET', K_CLIENTS, client)
  if entry then
    redis.call('ZREM', K_LINE, entry)
  end
  redis.call('HDEL', K_CLIENTS, client)
  redis.call('ZREM', K_ALIVE, client)
end

-- Drops expired leases and the places of every process that stopped renewing its own.
local function expire()
  expire_leases()
  for _, client in ipairs(redis.call('ZRANGEBYSCORE', K_ALIVE, '-inf', NOW_MS)) do
    drop_place(client)
  end
end

-- A grant, and a fencing token that only grows: the token is at least the server time in
-- microseconds, so it keeps growing even after Redis lost its counter (a restart without
-- persistence or from an older snapshot). Written by `save`. The lease runs until
-- `expiry` (server ms): see serve() for grants to other processes. Returns the token.
local function grant(member, client, n, barrier, expiry)
  fence = math.max(fence + 1, NOW_US)
  local token = fence
  redis.call('ZADD', K_HOLDERS, fmt(expiry), lease_id(member, client, n, token))
  used = used + n
  if client == CLIENT then
    table.insert(mine, member)
    table.insert(mine, n)
    table.insert(mine, token)
    table.insert(mine, barrier)
    table.insert(mine, expiry)
  end
  return token
end

-- Reports a grant made earlier that the calling process had not heard of (a lost pub/sub
-- message, or a re-entry racing the grant), with whether its barrier is still in the
-- line, and claims it: its lease now runs until now + lease, like a renewal.
local function report(member, n, token)
  local barrier = 0
  local entry = redis.call('HGET', K_CLIENTS, CLIENT)
  if entry then
    local em, _, en = parse_entry(entry)
    if em == member and en == 0 then barrier = 1 end
  end
  local expiry = NOW_MS + LEASE_MS
  redis.call('ZADD', K_HOLDERS, 'XX', expiry, lease_id(member, CLIENT, n, token))
  table.insert(mine, member)
  table.insert(mine, n)
  table.insert(mine, tonumber(token))
  table.insert(mine, barrier)
  table.insert(mine, expiry)
end

local function granting() return (not closed) and NOW_MS >= grace_until end

-- Grants the line in order while the front fits, and returns the front it stopped at
-- (nil when the line is empty, and also when no permit is free: then nobody can be
-- granted whatever the front is, so it is not read). Stops at a barrier (a process whose
-- best waiter was just granted and whose next best is not known yet: all its other
-- waiters come after the barrier) or at a request larger than the free permits (no one
-- passes it: that is what keeps large requests from starving).
-- A grant to the calling process runs until now + lease. A grant to another process runs
-- until that process's place in the line would expire: a live process renews its place
-- every third of its lease and, in the same call, claims its grants, so it keeps them; a
-- dead one gives them back when its place would have gone, so a dead process holds up the
-- line for about one lease in all, never two. A front whose process's place has already
-- expired is dropped on the way (the background sync drops the others).
-- Each round grants one process's entry or drops one dead process, so the work is bounded
-- by processes and permits, never by waiters.
local function serve()
  while true do
    if used >= LIMIT then return nil end
    local front = redis.call('ZRANGE', K_LINE, '0', '0')[1]
    if not front then return nil end
    local member, client, n, more = parse_entry(front)
    if not granting() then return member end
    local expiry = NOW_MS + LEASE_MS
    if client ~= CLIENT then
      expiry = tonumber(redis.call('ZSCORE', K_ALIVE, client))
    end
    if (not expiry) or expiry <= NOW_MS then
      drop_place(client)
    elseif n == 0 or n > LIMIT - used then
      return member
    else
      local barrier = 0
      if more == '1' then barrier = 1 end
      local token = grant(member, client, n, barrier, expiry)
      redis.call('ZREM', K_LINE, front)
      if more == '1' then
        local kept = entry_of(member, client, 0, '0')
        redis.call('ZADD', K_LINE, '0', kept)
        redis.call('HSET', K_CLIENTS, client, kept)
      else
        redis.call('HDEL', K_CLIENTS, client)
      end
      -- Each process listens on its own channel: a grant is one message, not one per
      -- process.
      redis.call('PUBLISH', CHANNEL .. ':' .. client, client .. ' ' .. member .. ' ' .. fmt(n)
        .. ' ' .. fmt(token) .. ' ' .. fmt(barrier) .. ' ' .. fmt(expiry))
    end
  end
end

local function save()
  local changed = {}
  if used ~= saved_used then
    table.insert(changed, 'used')
    table.insert(changed, fmt(used))
  end
  if fence ~= saved_fence then
    table.insert(changed, 'fence')
    table.insert(changed, fmt(fence))
  end
  if arrival ~= saved_arrival then
    table.insert(changed, 'arrival')
    table.insert(changed, fmt(arrival))
  end
  if #changed > 0 then
    redis.call('HSET', K_CONFIG, unpack(changed))
    saved_used, saved_fence, saved_arrival = used, fence, arrival
  end
end

-- The lease of this process whose member is `member`, if any (a grant it may not have
-- heard of yet). Member and client id are hex digits, so the glob "member client *"
-- matches exactly that prefix and Redis itself does the matching; anything else (never
-- sent by this crate) is compared here instead.
local function find_lease(member)
  local prefix = member .. ' ' .. CLIENT .. ' '
  if not (string.find(member, '^%x+$') and string.find(CLIENT, '^%x+$')) then
    for _, id in ipairs(redis.call('ZRANGE', K_HOLDERS, 0, -1)) do
      if string.sub(id, 1, #prefix) == prefix then return id end
    end
    return nil
  end
  local cursor = '0'
  repeat
    local page = redis.call('ZSCAN', K_HOLDERS, cursor, 'MATCH', prefix .. '*', 'COUNT', 1000)
    cursor = page[1]
    if page[2][1] then return page[2][1] end
  until cursor == '0'
  return nil
end

-- Replaces this process's line entry `current` (as read from `clients`, or false) by one
-- for `member` ('' to leave the line).
local function set_entry(current, member, n, more)
  if current then
    redis.call('ZREM', K_LINE, current)
    if member == '' then redis.call('HDEL', K_CLIENTS, CLIENT) end
  end
  if member ~= '' then
    local entry = entry_of(member, CLIENT, n, more)
    redis.call('ZADD', K_LINE, '0', entry)
    redis.call('HSET', K_CLIENTS, CLIENT, entry)
    redis.call('ZADD', K_ALIVE, fmt(NOW_MS + ALIVE_MS), CLIENT)
  end
end

-- Every script goes on from here. Expiry is lazy: a lease that ran out only matters
-- when its permits are wanted, and a dead process's place only when it reaches the
-- front. An arrival that does not fit drops expired leases, serve() drops a dead front,
-- and every process's background sync (every lease / 3 while it waits or holds) drops
-- both everywhere, so no expired lease is ever renewed and a killed holder's permits come
-- back within one lease and a third.
