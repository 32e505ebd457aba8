-- Closes the semaphore for every process: nobody waits or is granted any more; leases
-- already granted stay valid until released or expired.
redis.call('HSET', K_CONFIG, 'closed', 1)
redis.call('DEL', K_LINE, K_ENTRIES, K_CLIENTS, K_ALIVE)
redis.call('PUBLISH', CHANNEL, '* closed')
save()
return { 'closed', 0, '', {}, mine, NOW_US }
