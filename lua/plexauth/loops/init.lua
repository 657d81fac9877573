--- Event-loop adapters for the `loop` option of `plexauth.new` and
-- `plexauth.account`. Each constructor loads its adapter on first use, so a
-- program loads only the one it needs.
--
--     plexauth.loops.luv(uv)          luv, Neovim's vim.loop
--     plexauth.loops.cqueues([cq])    a cqueues controller (default: a new one)
--     plexauth.loops.copas(copas)     copas
--     plexauth.loops.mpv(mp)          an mpv script's mp
--     plexauth.loops.poll()           plexauth's own loop: loop:run(), loop:step()
-- @module plexauth.loops
local M = {}

for _, name in ipairs({ "luv", "cqueues", "copas", "mpv", "poll" }) do
  M[name] = function(...)
    return require("plexauth.loops." .. name).new(...)
  end
end

return M
