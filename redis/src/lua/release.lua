-- A release, the rest (someone waits; release_fast.lua already removed the lease and gave
-- its permits back): the freed permits, and any that expired, go to the line now.
expire()
serve()
save()
return { status, 0, '', {}, mine, NOW_US }
