--- The copas adapter. Works with the API copas 1.x (Debian's lua-copas)
-- shares with copas 4: tasks are copas threads (`copas.addthread`), and
-- every wait — for a transfer, a back-off, a wake-up — is copas' own socket
-- waiting on a descriptor: the client's, or a timerfd of the task. Threads
-- the program adds itself may call clients too. An error that ends a task
-- without `on_done` ends its thread with that error (copas reports it).
--
--     local loop = plexauth.loops.copas(require("copas"))
-- @module plexauth.loops.copas
local core = require("plexauth.core")
local errors = require("plexauth.errors")
local loop = require("plexauth.loop")

local M = {}

-- What copas waits on: an object with a descriptor whose receive says
-- "timeout" once (so copas parks the thread until the descriptor is
-- readable) and then returns. copas closes it when a thread ends after
-- waiting on it: close does nothing.
local Wait = {}
Wait.__index = Wait
function Wait:getfd() return self.fd end
function Wait.dirty() return false end
function Wait.close() end
function Wait.settimeout() end
function Wait:receive()
  if self.woken then return "" end
  self.woken = true
  return nil, "timeout"
end

--- A loop on `copas`.
-- @tparam table copas the copas module
-- @treturn plexauth.Loop
---@param copas table the copas module
---@return plexauth.Loop
function M.new(copas)
  if type(copas) ~= "table" or type(copas.addthread) ~= "function" or type(copas.receive) ~= "function" then
    errors.argument("loops.copas takes the copas module (got %s)", errors.describe(copas))
  end
  local function wait_fd(fd)
    copas.receive(setmetatable({ fd = fd }, Wait), 1)
  end

  local prims = { name = "copas" }

  function prims.start(fn)
    copas.addthread(function() fn() end)
  end

  function prims.in_host()
    local co, main = coroutine.running()
    return co ~= nil and not main
  end

  prims.signal = core.timer

  function prims.wait(t)
    wait_fd(t:getfd())
    t:clear()
  end

  function prims.raise(t)
    t:arm(0)
  end

  function prims.release(t)
    t:close()
  end

  function prims.timer(seconds, fn)
    local t = { tm = core.timer() }
    t.tm:arm(math.max(seconds, 0))
    copas.addthread(function()
      wait_fd(t.tm:getfd())
      t.tm:close()
      t.fired = true
      if not t.cancelled then fn() end
    end)
    return t
  end

  function prims.cancel_timer(t)
    t.cancelled = true
    if not t.fired then t.tm:arm(0) end -- the thread ends at copas' next step
  end

  local Watcher = {}
  Watcher.__index = Watcher
  function Watcher:close(after)
    self.closed, self.after = true, after
    self.kick() -- the thread wakes and ends before the descriptor is closed
  end

  function prims.watcher(fd, fn, kick)
    local w = setmetatable({ kick = kick }, Watcher)
    copas.addthread(function()
      while not w.closed do
        wait_fd(fd)
        if not w.closed then fn() end
      end
      if w.after then w.after() end
    end)
    return w
  end

  function prims.report(err)
    error(err, 0)
  end

  return loop.new(prims)
end

return M
