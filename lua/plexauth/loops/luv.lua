--- The luv adapter: luv (`require "luv"`) or Neovim's `vim.loop`. Calls wait
-- on uv poll handles and timers; nothing stays active while no call is in
-- flight, so `uv.run()` returns once the program's own work is done.
-- An error that ends a task without `on_done` is raised in the uv callback.
--
--     local loop = plexauth.loops.luv(vim.loop)
-- @module plexauth.loops.luv
local errors = require("plexauth.errors")
local loop = require("plexauth.loop")

local M = {}

--- A loop on `uv`.
-- @tparam table uv the luv module
-- @treturn plexauth.Loop
---@param uv table the luv module (`require "luv"`, `vim.loop`, `vim.uv`)
---@return plexauth.Loop
function M.new(uv)
  if type(uv) ~= "table" or type(uv.new_timer) ~= "function" or type(uv.new_poll) ~= "function" then
    errors.argument("loops.luv takes the luv module (require \"luv\", or vim.loop; got %s)",
                    errors.describe(uv))
  end
  local prims = { name = "luv" }

  function prims.timer(seconds, fn)
    local t = uv.new_timer()
    t:start(math.max(0, math.floor(seconds * 1000 + 0.5)), 0, function()
      t:close()
      fn()
    end)
    return t
  end

  function prims.cancel_timer(t)
    if not t:is_closing() then
      t:stop()
      t:close()
    end
  end

  -- uv_poll_stop takes the descriptor out of libuv's own epoll set at once,
  -- so it may be closed right after.
  local Watcher = {}
  Watcher.__index = Watcher
  function Watcher:close(after)
    self.p:stop()
    self.p:close()
    if after then after() end
  end

  function prims.watcher(fd, fn)
    local p = uv.new_poll(fd)
    p:start("r", function() fn() end)
    return setmetatable({ p = p }, Watcher)
  end

  function prims.report(err)
    error(err, 0)
  end

  return loop.new(prims)
end

return M
