-- The first part of a script without a fast path: nothing read yet (see prelude.lua).
local time, cfg
