-- Host stall and cancel latency of one loop adapter, in its real host.
-- A 10 ms periodic timer of the host records the gaps between its ticks:
--   idle    BENCH_IDLE_S seconds (2) with no call: the host's own baseline;
--   calls   BENCH_STALL_TASKS tasks (8) on one client, each making
--           BENCH_STALL_ROUNDS calls (3) in a row to a server that answers
--           after 1 s (BENCH_SLOW_URL);
--   cancel  BENCH_CANCELS times (10): a task's call waits 0.2 s on a hung
--           server (BENCH_HUNG_URL), then a tick cancels it: time until
--           task:cancel() returns and until the task has ended (on_done).
-- Prints one line: "STALL host=<name> key=value ..." (seconds), then quits.
--
--   BENCH_HOST=poll|luv|cqueues lua5.4 bench/stall.lua    BENCH_HOST=copas lua5.2 bench/stall.lua
--   nvim --headless -u NONE -i NONE -n -c "luafile bench/stall.lua"      (PLEXAUTH_ROOT: the tree)
--   mpv --no-config --idle=once --script=bench/stall.lua ...
-- (plexauth on the host's Lua path: LUA_PATH/LUA_CPATH; Neovim: set below.)
local host = os.getenv("BENCH_HOST")
if vim then
  host = "nvim"
  local root = os.getenv("PLEXAUTH_ROOT") or "."
  package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
  package.cpath = root .. "/build/jit/?.so;" .. package.cpath
  package.loaded.cjson = vim.json -- Neovim's own lua-cjson (see docs/embedding.md)
elseif mp then
  host = "mpv"
end
local plexauth = require("plexauth")
local now = require("plexauth.core").now
local function num(name, default) return tonumber(os.getenv(name)) or default end
local IDLE_S, TASKS, ROUNDS, CANCELS = num("BENCH_IDLE_S", 2), num("BENCH_STALL_TASKS", 8),
  num("BENCH_STALL_ROUNDS", 3), num("BENCH_CANCELS", 10)
local INTERVAL = 0.01

-- Each host: H.loop, H.every(seconds, fn) -> stop, H.run() (returns when the
-- work is done, or at once where the host runs its own loop), H.quit().
local H = {}
local finished = false
-- Hosts whose program drives the loop itself, one step at a time: a step
-- waits at most until the next tick is due, and the tick runs after it.
local function stepped(step)
  local timers = {}
  function H.every(iv, fn)
    local t = { iv = iv, at = now() + iv, fn = fn }
    timers[t] = true
    return function() timers[t] = nil end
  end
  function H.run()
    while not finished do
      local wait = 0.1
      for t in pairs(timers) do wait = math.min(wait, t.at - now()) end
      step(math.max(wait, 0))
      for t in pairs(timers) do
        local tn = now()
        if tn >= t.at then t.at = tn + t.iv; t.fn() end
      end
    end
  end
  H.quit = function() end
end
local function luv_every(uv)
  return function(iv, fn)
    local t = uv.new_timer()
    local ms = math.floor(iv * 1000 + 0.5)
    t:start(ms, ms, fn)
    return function() t:stop(); t:close() end
  end
end

if host == "poll" then
  H.loop = plexauth.loops.poll()
  stepped(function(s) H.loop:step(s) end)
elseif host == "copas" then -- copas 1.x has no timers: its programs step it
  local copas = require("copas")
  H.loop = plexauth.loops.copas(copas)
  stepped(function(s) copas.step(s) end)
elseif host == "luv" or host == "nvim" then
  local uv = host == "nvim" and vim.loop or require("luv")
  H.loop, H.every = plexauth.loops.luv(uv), luv_every(uv)
  H.run = host == "luv" and function() uv.run() end or function() end
  H.quit = host == "nvim" and function() vim.schedule(function() vim.cmd("qall!") end) end or function() end
elseif host == "cqueues" then
  local cqueues = require("cqueues")
  local cq = cqueues.new()
  H.loop = plexauth.loops.cqueues(cq)
  function H.every(iv, fn)
    local on = true
    cq:wrap(function()
      while on do
        cqueues.sleep(iv)
        if on then fn() end
      end
    end)
    return function() on = false end
  end
  H.run = function() assert(cq:loop()) end
  H.quit = function() end
elseif host == "mpv" then
  H.loop = plexauth.loops.mpv(mp)
  function H.every(iv, fn)
    local t = mp.add_periodic_timer(iv, fn)
    return function() t:kill() end
  end
  H.run = function() end
  H.quit = function() mp.commandv("quit", "0") end
else
  error("BENCH_HOST must be poll, luv, cqueues or copas (got " .. tostring(host) .. ")")
end

local function client(url)
  return plexauth.new { server_url = url, token = "bench-token", client_identifier = "bench",
                        loop = H.loop, retries = false, timeout = 60 }
end
local slow, hung = client(assert(os.getenv("BENCH_SLOW_URL"))), client(assert(os.getenv("BENCH_HUNG_URL")))

local out = { "STALL host=" .. host, ("tasks=%d rounds=%d"):format(TASKS, ROUNDS) }
local function put(k, v) out[#out + 1] = ("%s=%.6f"):format(k, v) end
local function stats(name, list)
  table.sort(list)
  out[#out + 1] = ("%s_n=%d"):format(name, #list)
  put(name .. "_max", list[#list] or 0)
  put(name .. "_p99", list[math.max(1, math.ceil(#list * 0.99))] or 0)
  put(name .. "_med", list[math.max(1, math.ceil(#list * 0.5))] or 0)
end
local function failed(err)
  io.stdout:write("STALL host=", host, " error=", (tostring(err):gsub("%s", "_")), "\n")
  io.stdout:flush()
  os.exit(1)
end

-- The phases, driven by the ticks.
local phase, last, t_phase = "idle", nil, now()
local gaps = { idle = {}, calls = {} }
local ret, ended = {}, {}
local calls_left, cancel = TASKS, nil
local stop
local function tick()
  local t = now()
  if last and gaps[phase] then table.insert(gaps[phase], t - last) end
  last = t
  if phase == "idle" and t - t_phase >= IDLE_S then
    phase, t_phase = "calls", t
    for _ = 1, TASKS do
      H.loop:spawn(function()
        for _ = 1, ROUNDS do
          local res = slow:get_transient_token()
          if res.token ~= "transient-bench-token" then error("bad token") end
        end
      end, function(ok, err)
        if not ok then failed(err) end
        calls_left = calls_left - 1
        if calls_left == 0 then put("calls_s", now() - t_phase); phase = "cancel" end
      end)
    end
  elseif phase == "cancel" then
    if #ended == CANCELS then
      stop()
      slow:close(); hung:close()
      stats("idle", gaps.idle); stats("calls", gaps.calls)
      stats("cancel_return", ret); stats("cancel_end", ended)
      io.stdout:write(table.concat(out, " "), "\n")
      io.stdout:flush()
      finished = true
      H.quit()
    elseif not cancel then
      cancel = { at = t + 0.2 }
      cancel.task = H.loop:spawn(function() return hung:get_transient_token() end, function(ok, err)
        if ok or err.reason ~= "cancelled" then failed(ok and "the hung call succeeded" or err) end
        ended[#ended + 1] = now() - cancel.t0
        cancel = nil
      end)
    elseif not cancel.t0 and t >= cancel.at then
      local c = cancel -- on_done may run inside cancel(), and clears it
      c.t0 = now()
      c.task:cancel()
      ret[#ret + 1] = now() - c.t0
    end
  end
end
stop = H.every(INTERVAL, tick)
H.run()
