-- copas host (Debian's lua-copas: Lua 5.1 and 5.2): lua5.2 spec/loops/run_copas.lua
-- from the repository root, with LUA_PATH/LUA_CPATH for plexauth built for that Lua.
local failed = require("spec.loops.standalone")(require("spec.loops.hosts").copas())
os.exit(failed == 0 and 0 or 1)
