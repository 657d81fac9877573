--- Runs spec/loops/cases.lua in host H outside busted: prints a line per
-- case, then "loops-NAME: N passed, M failed". Returns the failure count.
local cases = require("spec.loops.cases")

return function(H)
  local passed, failed = cases.run(H, function(name, ok, err)
    io.stdout:write(ok and "ok   " or "FAIL ", H.name, ": ", name, "\n")
    if not ok then io.stdout:write("     ", tostring(err), "\n") end
    io.stdout:flush()
  end)
  io.stdout:write(string.format("loops-%s: %d passed, %d failed\n", H.name, passed, failed))
  io.stdout:flush()
  return failed
end
