-- A release, the rest (someone waits; release_fast.lua already removed the lease): the
-- freed permits go to the line now. Unless the state was just created afresh (Redis lost
-- it: nothing was in use).
local status = 'missing'
if released then
  status = 'released'
  if not RESET then used = used - tonumber(ARGV[7]) end
end
serve()
save()
-- Nothing for this process: one string, cheaper to answer (and to read) than a table.
if #mine == 0 then return status end
return { status, 0, '', {}, mine, NOW_US }
