--- Tasks on a host's event loop, and the pumps that drive transfers on it.
--
-- A loop is built from an adapter's primitives (`plexauth.loops.*`): timers,
-- descriptor watchers, and, for hosts that resume their own coroutines
-- (cqueues, copas), a way to start a host thread and a signal a thread can
-- wait on. Everything else — tasks, waiting, waking, cancellation — is here,
-- once for every host.
--
-- Two kinds of host:
--
-- * owned (luv, mpv, poll): plexauth resumes its tasks itself. A waiting task
--   yields a private marker; waking it resumes it from the host's callback.
-- * hosted (cqueues, copas): the host resumes its threads. A task runs
--   inside a host thread, in a coroutine of its own whose yields are passed
--   through to the host; a waiting task waits on its signal, and waking
--   raises the signal.
--
-- Either way no `pcall` stands between a task and its yields, so this works
-- on Lua 5.1 too.
-- @module plexauth.loop
local errors = require("plexauth.errors")

local M = {}

local unpack = table.unpack or unpack
local function pack(...) return { n = select("#", ...), ... } end

local argument = errors.argument

local SUSPEND = {} -- what a waiting task of an owned loop yields
local current      -- the task whose code is running, if any

--- A task: a function running as a coroutine of a loop (`loop:spawn`).
---@class plexauth.Task
---@field loop plexauth.Loop the loop it runs on
local Task = {}
Task.__index = Task
Task.__name = "plexauth.Task"

--- A loop of `plexauth.loops`, for the `loop` option.
---@class plexauth.Loop
local Loop = {}
Loop.__index = Loop
Loop.__name = "plexauth.Loop"

M.Loop, M.Task = Loop, Task

-- What an adapter gives `loop.new`. Timers, watchers and signals are the
-- adapter's own objects; without `watcher`, transfers are polled on timers.
---@class plexauth.LoopPrimitives
---@field name string the host's name, as error messages show it
---@field timer fun(seconds: number, fn: function): any calls `fn` once after `seconds`; returns a timer
---@field cancel_timer fun(t: any) the timer's `fn` is not called
---@field watcher? fun(fd: integer, fn: function, kick: function): {close: fun(self, after?: function)}
---@field report fun(err: any) reports an error that ended a task without `on_done`
---@field start? fun(fn: function) hosted loops: runs `fn` in a new host thread
---@field in_host? fun(): boolean hosted loops: whether the running code is a host thread
---@field signal? fun(): any hosted loops: a new signal
---@field wait? fun(sig: any) hosted loops: waits until the signal is raised
---@field raise? fun(sig: any) hosted loops: raises the signal
---@field release? fun(sig: any) hosted loops: frees the signal

--- Makes a loop from an adapter's primitives.
-- @tparam table prims `name`, `timer(seconds, fn)`, `cancel_timer(t)`,
--   `watcher(fd, fn, kick)` (or nil: transfers are polled on timers),
--   `report(err)`; hosted loops add `start(fn)`, `in_host()`, `signal()`,
--   `wait(sig)`, `raise(sig)`, `release(sig)`
-- @treturn plexauth.Loop
---@param prims plexauth.LoopPrimitives
---@return plexauth.Loop
function M.new(prims)
  return setmetatable({ prims = prims, owned = prims.start == nil, tasks = 0,
                        foreign = setmetatable({}, { __mode = "k" }) }, Loop)
end

function Loop:__tostring()
  return "plexauth.Loop (" .. self.prims.name .. ")"
end

--- True when `v` is a loop made by `plexauth.loops`.
---@param v any
---@return boolean
function M.is_loop(v)
  return getmetatable(v) == Loop
end

-- Tasks --------------------------------------------------------------------

local function finish(task, ok, ...)
  local loop = task.loop
  task.finished, task.res = true, pack(ok, ...)
  loop.tasks = loop.tasks - 1
  if task.sig then loop.prims.release(task.sig) end
  task.sig, task.co = nil, nil
  if task.on_done then
    task.on_done(ok, ...)
  elseif not ok then
    loop.prims.report((...))
  end
end

-- Resumes an owned task; ends it when its function returned or raised.
local function resume(task, ...)
  local prev = current
  current, task.suspended = task, false
  local r = pack(coroutine.resume(task.co, ...))
  current = prev
  if coroutine.status(task.co) == "dead" then
    finish(task, unpack(r, 1, r.n))
  else
    task.suspended = r[2] == SUSPEND
  end
end

-- The body of a hosted task's host thread: runs fn in a coroutine of its
-- own and passes its yields to the host and the host's answers back.
local function host_thread(task, fn, args)
  local co = coroutine.create(fn)
  task.co = co
  current = task
  local r = pack(coroutine.resume(co, unpack(args, 1, args.n)))
  current = nil
  while coroutine.status(co) ~= "dead" do
    local back = pack(coroutine.yield(unpack(r, 2, r.n)))
    current = task
    r = pack(coroutine.resume(co, unpack(back, 1, back.n)))
    current = nil
  end
  finish(task, unpack(r, 1, r.n))
end

--- Starts `fn(...)` as a new task and returns it. `on_done(true, results...)`
-- or `on_done(false, err)` runs once when `fn` returns or raises; without
-- `on_done`, an error that ends the task is reported through the host.
-- @tparam function fn
-- @tparam[opt] function on_done
-- @param ... arguments for `fn`
-- @treturn plexauth.Task
---@param fn function the task's body, called as `fn(...)`
---@param on_done? fun(ok: boolean, ...: any) `true, results...` or `false, err`
---@param ... any arguments for `fn`
---@return plexauth.Task
function Loop:spawn(fn, on_done, ...)
  if getmetatable(self) ~= Loop then argument("spawn called on %s, not a loop (use loop:spawn)", type(self)) end
  if type(fn) ~= "function" then argument("spawn: fn must be a function (got %s)", type(fn)) end
  if on_done ~= nil and type(on_done) ~= "function" then
    argument("spawn: on_done must be a function (got %s)", type(on_done))
  end
  local task = setmetatable({ loop = self, on_done = on_done }, Task)
  self.tasks = self.tasks + 1
  if self.owned then
    task.co = coroutine.create(fn)
    resume(task, ...)
  else
    task.sig = self.prims.signal()
    local args = pack(...)
    self.prims.start(function() host_thread(task, fn, args) end)
  end
  return task
end

--- True once the task's function has returned or raised.
---@return boolean
function Task:done()
  return self.finished == true
end

--- After `done`: `true, results...` or `false, err`; before: nothing.
---@return boolean|nil ok true when `fn` returned, false when it raised
---@return any ... `fn`'s results, or its error
function Task:result()
  if self.finished then return unpack(self.res, 1, self.res.n) end
end

--- Ends the task's call in flight at once: it raises `TransportError`
-- (`reason = "cancelled"`) inside the task. Later calls of the task raise it
-- too, before any request. No effect on a finished task.
function Task:cancel()
  if self.finished or self.cancelled then return end
  self.cancelled = true
  local w = self.waiting
  if w then w:cancel() end
end

function Task:__tostring()
  return "plexauth.Task (" .. (self.finished and "done" or "running") .. ")"
end

-- Waiting ------------------------------------------------------------------

--- The waiting context of the running code: its task, or for a host thread
-- the program started itself (cqueues, copas), a context of its own.
-- Raises `ArgumentError` anywhere else.
---@return plexauth.Task|table ctx
function Loop:context()
  local t = current
  if t and t.loop == self then return t end
  if not t and not self.owned and self.prims.in_host() then
    local co = coroutine.running()
    local ctx = self.foreign[co]
    if not ctx then
      ctx = { loop = self, sig = self.prims.signal() } -- the signal frees itself
      self.foreign[co] = ctx
    end
    return ctx
  end
  argument("a client with a %s loop must be called from a task of that loop (loop:spawn)",
           self.prims.name)
end

--- Waits until `w.done`. `w:cancel()` is what cancelling the task does to
-- this wait; it must set `w.done` (and whatever the waiter reports).
---@param ctx plexauth.Task|table the running code's context (`Loop:context`)
---@param w {done?: boolean, cancel: fun(self)}
function Loop:await(ctx, w)
  ctx.waiting = w
  while not w.done do
    if self.owned then
      coroutine.yield(SUSPEND)
    else
      self.prims.wait(ctx.sig)
    end
  end
  ctx.waiting = nil
end

--- Wakes a waiting context (after its wait's condition became true).
---@param ctx plexauth.Task|table
function Loop:wake(ctx)
  if self.owned then
    if ctx.suspended then resume(ctx) end
  else
    self.prims.raise(ctx.sig)
  end
end

-- A timer wait: done when the time is up or the task is cancelled.
local Sleep = {}
Sleep.__index = Sleep

function Sleep:cancel()
  self.loop.prims.cancel_timer(self.timer)
  self.done, self.cancelled = true, true
  self.loop:wake(self.ctx)
end

--- Suspends the running task for `seconds` on the loop's timers. Returns
-- false when the task was cancelled (before or during the wait).
---@param seconds number
---@return boolean slept false when cancelled
function Loop:sleep(seconds)
  local ctx = self:context()
  if ctx.cancelled then return false end
  local w = setmetatable({ loop = self, ctx = ctx }, Sleep)
  w.timer = self.prims.timer(seconds, function()
    w.done = true
    self:wake(ctx)
  end)
  self:await(ctx, w)
  return not w.cancelled
end

-- Calls each function of `list`; returns the first error any raised: one
-- failing task must not keep the others waiting.
local function call_all(list)
  local first
  for _, fn in ipairs(list) do
    local ok, err = pcall(fn)
    if not ok and first == nil then first = err end
  end
  return first
end

-- Pumps --------------------------------------------------------------------

--- Drives one multi (`plexauth.core.multi`) on a loop: watches its
-- descriptor (or polls it on timers where the host cannot watch one) while
-- transfers are in flight, steps it, and hands each finished transfer's
-- result to the batch that started it.
---@class plexauth.Pump
local Pump = {}
Pump.__index = Pump
M.Pump = Pump

local POLL_MIN, POLL_MAX = 0.002, 0.025 -- seconds, hosts without watchers

--- A pump for `multi` on this loop.
---@param multi userdata a `plexauth.core.multi`
---@return plexauth.Pump
function Loop:pump(multi)
  return setmetatable({ loop = self, multi = multi, sink = {}, interval = POLL_MIN }, Pump)
end

function Pump:_start()
  if self.active then return end
  self.active = true
  local prims, multi = self.loop.prims, self.multi
  if prims.watcher then
    self.watcher = prims.watcher(multi:pollfd(), function() self:step() end,
                                 function() multi:kick() end)
  else
    self.interval = POLL_MIN
    self:_poll_later(0)
  end
end

-- Stops watching: nothing of the host stays active while no transfer is in
-- flight. `after()` runs once the host no longer watches the descriptor.
function Pump:_stop(after)
  if self.active then
    self.active = false
    if self.watcher then
      self.watcher:close(after)
      self.watcher, after = nil, nil
    elseif self.timer then
      self.loop.prims.cancel_timer(self.timer)
      self.timer = nil
    end
  end
  if after then after() end
end

-- Hosts without descriptor watching: step again after `delay`, or sooner
-- when libcurl's timer is due first.
function Pump:_poll_later(delay)
  local t = self.multi:timeout()
  if t and t < delay then delay = t end
  self.timer = self.loop.prims.timer(delay, function()
    self.timer = nil
    if self.active then self:step() end
  end)
end

--- Starts a transfer for `batch`; the arguments are those of `multi:start`.
-- @return the transfer id
---@param batch plexauth.Batch
---@param method string
---@param url string
---@param headers string[]|nil `"Name: value"` lines
---@param body string|nil
---@return number id
function Pump:start(batch, method, url, headers, body)
  local id = self.multi:start(method, url, headers, body)
  self.sink[id] = batch
  self:_start()
  return id
end

--- Steps the multi and delivers what finished. Called by the watcher or
-- the poll timer.
function Pump:step()
  local multi = self.multi
  if multi:closed() then return end
  local _, done = multi:step()
  local err
  if done then
    local list = {}
    for _, id in ipairs(done) do
      local batch = self.sink[id]
      self.sink[id] = nil
      local r = pack(multi:result(id))
      if batch then list[#list + 1] = function() batch:put(id, r) end end
    end
    err = call_all(list)
  end
  -- What was delivered may have started transfers, or closed the multi.
  if not multi:closed() then
    if multi:running() == 0 then
      self:_stop()
    elseif self.active and not self.watcher and not self.timer then
      self.interval = done and POLL_MIN or math.min(self.interval * 2, POLL_MAX)
      self:_poll_later(self.interval)
    end
  end
  if err ~= nil then error(err, 0) end
end

--- Removes a transfer at once.
---@param id number
function Pump:cancel(id)
  self.sink[id] = nil
  self.multi:cancel(id)
  if self.multi:running() == 0 then self:_stop() end
end

--- Ends every transfer (their batches get `reason = "cancelled"`), then
-- closes the multi once the loop no longer watches its descriptor.
function Pump:close()
  local multi = self.multi
  if multi:closed() then return end
  local sinks = self.sink
  self.sink = {}
  local list = {}
  for id, batch in pairs(sinks) do
    multi:cancel(id)
    list[#list + 1] = function() batch:put(id, nil, true) end
  end
  self:_stop(function() multi:close() end)
  local err = call_all(list)
  if err ~= nil then error(err, 0) end
end

-- Batches ------------------------------------------------------------------

--- The transfers one task started on one pump, collected in the order they
-- finish. The same interface as the blocking driver's batches.
---@class plexauth.Batch
local Batch = {}
Batch.__index = Batch

--- A batch for the running task's transfers on this pump.
---@return plexauth.Batch
function Pump:batch()
  local ctx = self.loop:context()
  return setmetatable({ pump = self, ctx = ctx, pending = {}, n = 0, queue = {}, head = 1, tail = 0 },
                      Batch)
end

local CANCELLED = pack(nil, "cancelled", 42, "cancelled")

--- Starts a transfer (arguments as for `multi:start`); nil when the task is
-- cancelled.
---@param method string
---@param url string
---@param headers string[]|nil
---@param body string|nil
---@return number|nil id
function Batch:start(method, url, headers, body)
  if self.ctx.cancelled then return nil end
  local id = self.pump:start(self, method, url, headers, body)
  self.pending[id] = true
  self.n = self.n + 1
  return id
end

-- A transfer finished (r: the packed result), or was cancelled.
---@param id number
---@param r table|nil `multi:result(id)`, packed
---@param cancelled? boolean
function Batch:put(id, r, cancelled)
  if not self.pending[id] then return end
  self.pending[id] = nil
  self.n = self.n - 1
  self.tail = self.tail + 1
  self.queue[self.tail] = { id = id, r = cancelled and CANCELLED or r }
  if self.waiting then
    self.done = true
    self.pump.loop:wake(self.ctx)
  end
end

-- The wait of `next`: cancelling it removes every transfer of the batch.
function Batch:cancel()
  self:close()
  self.done = true
  self.pump.loop:wake(self.ctx)
end

--- The next finished transfer: its id and result (as `multi:result`), or
-- nil when none is pending. When the task is cancelled, the result is
-- `nil, "cancelled", 42, message` and the other transfers are removed.
---@return number|false|nil id false: cancelled; nil: none pending
---@return any ... the result, as `multi:result`
function Batch:next()
  local q = self.queue
  if q[self.head] == nil then
    if self.ctx.cancelled and self.n > 0 then self:close() end
    if self.n == 0 then
      if self.ctx.cancelled then return false, unpack(CANCELLED, 1, CANCELLED.n) end
      return nil
    end
    self.done, self.waiting = false, true
    self.pump.loop:await(self.ctx, self)
    self.waiting = false
    if q[self.head] == nil then return false, unpack(CANCELLED, 1, CANCELLED.n) end
  end
  local e = q[self.head]
  q[self.head] = nil
  self.head = self.head + 1
  return e.id, unpack(e.r, 1, e.r.n)
end

--- Removes every transfer still pending.
function Batch:close()
  for id in pairs(self.pending) do
    self.pump:cancel(id)
    self.pending[id] = nil
  end
  self.n = 0
end

return M
