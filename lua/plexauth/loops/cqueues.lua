--- The cqueues adapter (cqueues programs, lua-http). Tasks are cqueues
-- threads of the controller; a waiting call polls the client's descriptor
-- and waits on a condition, so the controller keeps running other threads.
-- Threads the program wraps itself (`cq:wrap`) may call clients too. An
-- error that ends a task without `on_done` ends its thread with that error,
-- which `cq:loop()` returns.
--
-- `loop:spawn` wraps the task: it starts at the controller's next step.
--
--     local cq = cqueues.new()
--     local loop = plexauth.loops.cqueues(cq)
-- @module plexauth.loops.cqueues
local cqueues = require("cqueues")
local condition = require("cqueues.condition")
local errors = require("plexauth.errors")
local loop = require("plexauth.loop")

local M = {}

-- A loop on a cqueues controller.
---@class plexauth.CqueuesLoop: plexauth.Loop
---@field cq userdata the controller

--- A loop on the controller `cq` (default: a new one, as `loop.cq`).
-- @param[opt] cq a cqueues controller
-- @treturn plexauth.Loop
---@param cq? userdata a cqueues controller (default: a new one)
---@return plexauth.CqueuesLoop
function M.new(cq)
  if cq == nil then cq = cqueues.new() end
  if not cqueues.type(cq) then
    errors.argument("loops.cqueues takes a cqueues controller (got %s)", errors.describe(cq))
  end
  local prims = { name = "cqueues" }

  function prims.start(fn)
    cq:wrap(fn)
  end

  function prims.in_host()
    return cqueues.running() == cq
  end

  -- A thread checks its condition before it waits and nothing runs in
  -- between, so a signal is never lost.
  prims.signal = condition.new

  function prims.wait(c)
    c:wait()
  end

  function prims.raise(c)
    c:signal()
  end

  function prims.release() end

  function prims.timer(seconds, fn)
    local t = { c = condition.new() }
    cq:wrap(function()
      cqueues.poll(t.c, math.max(seconds, 0))
      if not t.cancelled then fn() end
    end)
    return t
  end

  function prims.cancel_timer(t)
    t.cancelled = true
    t.c:signal()
  end

  local Watcher = {}
  Watcher.__index = Watcher
  function Watcher:close(after)
    self.closed, self.after = true, after
    self.c:signal()
  end

  function prims.watcher(fd, fn)
    local w = setmetatable({ c = condition.new() }, Watcher)
    local pollable = { pollfd = fd, events = "r" }
    cq:wrap(function()
      while not w.closed do
        cqueues.poll(pollable, w.c)
        if not w.closed then fn() end
      end
      if w.after then
        cqueues.cancel(fd) -- the controller forgets it before it is closed
        w.after()
      end
    end)
    return w
  end

  function prims.report(err)
    error(err, 0)
  end

  local l = loop.new(prims)
  l.cq = cq
  return l
end

return M
