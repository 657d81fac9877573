-- Neovim host: nvim --headless -u NONE -i NONE -n -c "luafile spec/loops/run_nvim.lua"
-- from the repository root. Neovim's LuaJIT loads plexauth built for LuaJIT
-- (build/jit). Neovim exports symbols of its own that Debian's lua-cjson and
-- LuaSocket would bind to: plexauth uses Neovim's built-in lua-cjson
-- (vim.json), and the fake server's control module takes it and a LuaSocket
-- subset on vim.loop (nvim_socket.lua). Exits Neovim with status 0, or 1
-- when a case failed.
local root = os.getenv("PLEXAUTH_ROOT") or "."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/?.lua;"
  .. "/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua;" .. package.path
package.cpath = root .. "/build/jit/?.so;/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;" .. package.cpath
package.loaded.cjson = vim.json
package.loaded.socket = require("spec.loops.nvim_socket")(vim)
local ok, failed = pcall(function()
  return require("spec.loops.standalone")(require("spec.loops.hosts").nvim(vim))
end)
if not ok then
  io.stdout:write("FAIL nvim: ", tostring(failed), "\nloops-nvim: 0 passed, 1 failed\n")
  failed = 1
end
io.stdout:flush()
vim.cmd((failed == 0) and "qall!" or "cquit 1")
