--- plexauth's own loop, for plain scripts: `loop:run()` drives every task
-- until all have ended, waiting in poll(2); `loop:step([seconds])` runs
-- what is ready, waiting at most `seconds` (default 0), and returns true
-- while tasks remain. An error that ends a task without `on_done` is
-- written to `io.stderr`.
--
--     local loop = plexauth.loops.poll()
--     for i = 1, 100 do loop:spawn(function() ... end) end
--     loop:run()
-- @module plexauth.loops.poll
local core = require("plexauth.core")
local errors = require("plexauth.errors")
local loop = require("plexauth.loop")

local M = {}

-- Timers: a binary min-heap on (at, seq); cancelled ones are dropped when
-- they reach the top.
local function before(a, b)
  return a.at < b.at or (a.at == b.at and a.seq < b.seq)
end

local function push(h, t)
  local i = #h + 1
  h[i] = t
  while i > 1 do
    local p = math.floor(i / 2)
    if not before(h[i], h[p]) then break end
    h[i], h[p] = h[p], h[i]
    i = p
  end
end

local function pop(h)
  local top, n = h[1], #h
  h[1] = h[n]
  h[n] = nil
  n = n - 1
  local i = 1
  while true do
    local l, r, m = 2 * i, 2 * i + 1, i
    if l <= n and before(h[l], h[m]) then m = l end
    if r <= n and before(h[r], h[m]) then m = r end
    if m == i then break end
    h[i], h[m] = h[m], h[i]
    i = m
  end
  return top
end

local Watcher = {}
Watcher.__index = Watcher

-- plexauth's own loop (`plexauth.loops.poll()`).
---@class plexauth.PollLoop: plexauth.Loop
---@field step fun(self: plexauth.PollLoop, seconds?: number): boolean
---@field run fun(self: plexauth.PollLoop)

--- A new loop of plexauth's own.
-- @treturn plexauth.Loop with `run` and `step`
---@return plexauth.PollLoop
function M.new()
  local timers, watchers, seq = {}, {}, 0
  local prims = { name = "poll" }

  function prims.timer(seconds, fn)
    seq = seq + 1
    local t = { at = core.now() + math.max(seconds, 0), fn = fn, seq = seq }
    push(timers, t)
    return t
  end

  function prims.cancel_timer(t)
    t.cancelled = true
  end

  function prims.watcher(fd, fn)
    local w = setmetatable({ fd = fd, fn = fn }, Watcher)
    watchers[fd] = w
    return w
  end

  function Watcher:close(after)
    if watchers[self.fd] == self then watchers[self.fd] = nil end
    if after then after() end
  end

  function prims.report(err)
    io.stderr:write("plexauth: a task failed: ", tostring(err), "\n")
  end

  ---@type plexauth.PollLoop
  local self = loop.new(prims)

  local function next_timer()
    while timers[1] and timers[1].cancelled do pop(timers) end
    return timers[1]
  end

  --- Runs what is ready, waiting at most `seconds` (default 0) for
  -- something to be; true while tasks remain.
  ---@param l plexauth.PollLoop this loop (`loop:step`)
  ---@param seconds? number the longest wait (default 0; `math.huge`: no limit)
  ---@return boolean pending true while tasks remain
  function self.step(l, seconds)
    if l ~= self then errors.argument("step called on %s, not this loop (use loop:step)", errors.describe(l)) end
    seconds = seconds == nil and 0 or seconds
    if type(seconds) ~= "number" or seconds ~= seconds or seconds < 0 then
      errors.argument("step: seconds must be a number >= 0 (got %s)", errors.describe(seconds))
    end
    local top = next_timer()
    local wait = seconds
    if top then wait = math.min(wait, math.max(0, top.at - core.now())) end
    local fds = {}
    for fd in pairs(watchers) do fds[#fds + 1] = fd end
    if #fds > 0 then
      for _, fd in ipairs(core.poll(fds, wait < math.huge and wait or nil)) do
        local w = watchers[fd]
        if w then w.fn() end
      end
    elseif wait > 0 and wait < math.huge then
      core.sleep(wait)
    end
    local now = core.now()
    top = next_timer()
    while top and top.at <= now do
      pop(timers)
      top.fn()
      top = next_timer()
    end
    return self.tasks > 0
  end

  --- Runs until every task has ended (or none can go on: a task waiting
  -- for something that is not plexauth's).
  ---@param l plexauth.PollLoop this loop (`loop:run`)
  function self.run(l)
    if l ~= self then errors.argument("run called on %s, not this loop (use loop:run)", errors.describe(l)) end
    while self:step(math.huge) do
      if next(watchers) == nil and next_timer() == nil then break end
    end
  end

  return self
end

return M
