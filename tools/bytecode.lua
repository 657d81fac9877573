--- bytecode.lua OUTDIR FILE...: precompiles each lua/plexauth/**.lua FILE
-- to OUTDIR/plexauth/**.luac with the running Lua (string.dump, debug
-- information kept, so errors still name file and line). bin/plexauth
-- loads these instead of the sources (see there). Prints nothing.
local out = assert(arg[1], "usage: bytecode.lua OUTDIR FILE...")
for i = 2, #arg do
  local file = arg[i]
  local rel = assert(file:match("^lua/(plexauth/.+)%.lua$"), file .. ": not under lua/plexauth/")
  local chunk = assert(loadfile(file))
  local target = out .. "/" .. rel .. ".luac"
  local dir = target:match("^(.*)/[^/]*$")
  assert(os.execute("mkdir -p '" .. dir .. "'"))
  local tmp = target .. ".tmp"
  local f = assert(io.open(tmp, "wb"))
  assert(f:write(string.dump(chunk)))
  assert(f:close())
  assert(os.rename(tmp, target))
end
