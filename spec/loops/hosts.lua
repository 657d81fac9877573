--- The hosts spec/loops/cases.lua runs in: each gives a plexauth loop on
-- it, a periodic timer of the host, and a way to run the host until a
-- condition holds. See cases.lua for the fields.
local plexauth = require("plexauth")
local core = require("plexauth.core")

local M = {}

-- Hosts driven by stepping them: each step waits at most 10 ms, and the
-- "timer" ticks after each step (a step that blocked shows as a gap).
local function stepped(name, loop, step)
  local H = { name = name, loop = loop }
  local ticks = {}
  function H.tick(_, fn)
    local t = { fn = fn }
    ticks[t] = true
    return function() ticks[t] = nil end
  end
  function H.drive(cond, limit)
    local deadline = core.now() + limit
    while not cond() do
      if core.now() >= deadline then return false end
      step(0.01)
      for t in pairs(ticks) do t.fn() end
    end
    return true
  end
  return H
end

--- plexauth's own loop.
function M.poll()
  local loop = plexauth.loops.poll()
  return stepped("poll", loop, function(s) loop:step(s) end)
end

local function luv_tick(uv)
  return function(interval, fn)
    local t = uv.new_timer()
    local ms = math.floor(interval * 1000)
    t:start(ms, ms, fn)
    return function()
      t:stop()
      t:close()
    end
  end
end

--- luv under a plain Lua.
function M.luv(uv)
  uv = uv or require("luv")
  local H = { name = "luv", loop = plexauth.loops.luv(uv), tick = luv_tick(uv) }
  function H.drive(cond, limit)
    local deadline = core.now() + limit
    local guard = uv.new_timer() -- run("once") returns at least every 10 ms
    guard:start(10, 10, function() end)
    while not cond() and core.now() < deadline do uv.run("once") end
    guard:stop()
    guard:close()
    uv.run("nowait")
    return cond()
  end
  -- uv.run() returns once no handle is active; an unreferenced guard
  -- timer ends the wait if something stayed active.
  function H.idle_returns()
    local stuck = false
    local guard = uv.new_timer()
    guard:start(2000, 0, function()
      stuck = true
      uv.stop()
    end)
    guard:unref()
    uv.run()
    guard:close()
    uv.run("nowait")
    return not stuck
  end
  return H
end

--- Neovim: vim.loop timers, vim.wait to run the editor's loop.
function M.nvim(vim)
  local uv = vim.loop
  local H = { name = "nvim", loop = plexauth.loops.luv(uv), tick = luv_tick(uv) }
  function H.drive(cond, limit)
    return vim.wait(math.floor(limit * 1000), cond, 5) == true
  end
  return H
end

--- cqueues: a controller stepped from the main thread.
function M.cqueues()
  local cqueues = require("cqueues")
  local cq = cqueues.new()
  local H = { name = "cqueues", loop = plexauth.loops.cqueues(cq) }
  function H.tick(interval, fn)
    local on = true
    cq:wrap(function()
      while on do
        cqueues.sleep(interval)
        if on then fn() end
      end
    end)
    return function() on = false end
  end
  function H.drive(cond, limit)
    local deadline = core.now() + limit
    while not cond() and core.now() < deadline do
      local ok, err = cq:step(0.01)
      if not ok then error(err, 0) end
    end
    return cond()
  end
  function H.foreign(fn)
    cq:wrap(fn)
  end
  -- cq:loop() returns once the controller has no thread left.
  function H.idle_returns()
    assert(cq:loop(2))
    return cq:empty()
  end
  return H
end

--- copas (1.x on Debian): copas.step from the main thread.
function M.copas()
  local copas = require("copas")
  local H = stepped("copas", plexauth.loops.copas(copas), function(s) copas.step(s) end)
  function H.foreign(fn)
    copas.addthread(fn)
  end
  return H
end

--- mpv: the cases run in a coroutine that an mpv timer resumes; drive
-- yields to mpv's own event loop.
function M.mpv(mp)
  local H = { name = "mpv", loop = plexauth.loops.mpv(mp) }
  function H.tick(interval, fn)
    local t = mp.add_periodic_timer(interval, fn)
    return function() t:kill() end
  end
  function H.drive(cond, limit)
    local deadline = core.now() + limit
    while not cond() and core.now() < deadline do coroutine.yield() end
    return cond()
  end
  return H
end

return M
