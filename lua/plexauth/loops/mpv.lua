--- The mpv adapter, for mpv scripts. mpv's Lua can wait on timers only
-- (`mp.add_timeout`), not on descriptors, so transfers in flight are polled
-- every few milliseconds (sooner when libcurl's timer is due). An error
-- that ends a task without `on_done` is raised in the timer callback
-- (mpv logs it).
--
--     local loop = plexauth.loops.mpv(mp)
-- @module plexauth.loops.mpv
local errors = require("plexauth.errors")
local loop = require("plexauth.loop")

local M = {}

--- A loop on an mpv script's `mp`.
-- @tparam table mp
-- @treturn plexauth.Loop
---@param mp table mpv's `mp` module
---@return plexauth.Loop
function M.new(mp)
  if type(mp) ~= "table" or type(mp.add_timeout) ~= "function" then
    errors.argument("loops.mpv takes mpv's mp module (got %s)", errors.describe(mp))
  end
  local prims = { name = "mpv" }

  function prims.timer(seconds, fn)
    return mp.add_timeout(math.max(seconds, 0), fn)
  end

  function prims.cancel_timer(t)
    t:kill()
  end

  function prims.report(err)
    error(err, 0)
  end

  return loop.new(prims)
end

return M
