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
---@class plexauth.loops
---@field luv fun(uv: table): plexauth.Loop a loop on luv or Neovim's `vim.loop`
---@field cqueues fun(cq?: userdata): plexauth.CqueuesLoop a loop on a cqueues controller (default: a new one)
---@field copas fun(copas: table): plexauth.Loop a loop on copas
---@field mpv fun(mp: table): plexauth.Loop a loop on an mpv script's `mp`
---@field poll fun(): plexauth.PollLoop plexauth's own loop: `loop:run()`, `loop:step([seconds])`
local M = {}

for _, name in ipairs({ "luv", "cqueues", "copas", "mpv", "poll" }) do
  M[name] = function(...)
    return require("plexauth.loops." .. name).new(...)
  end
end

return M
