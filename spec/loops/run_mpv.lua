-- mpv host: mpv --idle=once --no-config --load-scripts=no --script=spec/loops/run_mpv.lua
-- (spec/mpv/run loops). The cases run in a coroutine that a 2 ms timer resumes,
-- so that mpv's own event loop runs between their steps; mpv then quits with
-- status 0, or 3 when a case failed.
local standalone = require("spec.loops.standalone")
local H = require("spec.loops.hosts").mpv(mp)
local failed = 1
local co = coroutine.create(function() failed = standalone(H) end)
local timer
timer = mp.add_periodic_timer(0.002, function()
  local ok, err = coroutine.resume(co)
  if not ok then
    io.stdout:write("FAIL mpv: ", tostring(err), "\nloops-mpv: 0 passed, 1 failed\n")
    io.stdout:flush()
  end
  if coroutine.status(co) == "dead" then
    timer:kill()
    mp.commandv("quit", failed == 0 and "0" or "3")
  end
end)
