-- A release, the rest (someone waits; release_fast.lua already removed the lease and gave
-- its permits back): the freed permits go to the line now.
serve()
save()
return { status, 0, '', {}, mine, NOW_US }
