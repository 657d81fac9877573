--- The rules of the non-blocking mode, as cases every loop adapter must pass
-- in its real host. A host (spec/loops/hosts.lua) gives:
--
--   H.name                 "poll", "luv", "cqueues", "copas", "nvim", "mpv"
--   H.loop                 a plexauth loop on that host
--   H.tick(seconds, fn)    a periodic timer of the host; returns a stop function
--   H.drive(cond, limit)   runs the host's loop until cond() is true (then
--                          true) or `limit` seconds passed (then false)
--   H.foreign(fn)          (cqueues, copas) runs fn in a thread the host
--                          started itself, not through loop:spawn
--   H.idle_returns()       (luv, cqueues) true when the host's run-until-no-work
--                          returns with no plexauth call in flight
--
-- Each case is `fn(H, S)`, S the shared fixtures (S.srv: a fake PMS); it
-- raises on failure. Written for Lua 5.1 to 5.4 and LuaJIT; the assertions
-- are plain, since some hosts (Neovim, mpv) run it without busted.
local plexauth = require("plexauth")
local core = require("plexauth.core")
local fake = require("spec.support.fake")

local errors = plexauth.errors
local M = {}

-- Under valgrind or the sanitizers (PLEXAUTH_SPEC_SLACK seconds, see
-- tools/memory-check) the bounds on time stretch: they tell a waiting host
-- from a blocked one, not how fast it is.
local SLACK = tonumber(os.getenv("PLEXAUTH_SPEC_SLACK")) or 0
local function within(seconds) return seconds * (1 + SLACK) end

local function fail(fmt, ...)
  error(string.format(fmt, ...), 2)
end

local function check(cond, fmt, ...)
  if not cond then fail(fmt or "check failed", ...) end
end

local function is_error(err, cls)
  check(errors.is(err, cls), "expected %s, got %s", cls.name, tostring(err))
end

local function add(name, fn)
  M[#M + 1] = { name = name, fn = fn }
end

-- Starts fn as a task; the returned table gets done, ok and the results.
local function spawn(H, fn, ...)
  local st = {}
  st.task = H.loop:spawn(fn, function(ok, ...)
    st.done, st.ok, st.res = true, ok, { ... }
  end, ...)
  return st
end

local function all_done(list)
  return function()
    for _, st in ipairs(list) do
      if not st.done then return false end
    end
    return true
  end
end

local function client(H, S, opts)
  local o = { server_url = S.srv.url, token = S.srv.token, loop = H.loop, timeout = 10 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return plexauth.new(o)
end

local function token_of(st)
  check(st.ok, "the task failed: %s", tostring(st.res and st.res[1]))
  local t = st.res[1]
  check(type(t) == "string" and t:match("^transient%-%d+%-%x+$"), "not a token: %s", tostring(t))
  return t
end

-- Ticks of a host timer while fn's work runs: count and largest gap.
local function watch_ticks(H)
  local w = { n = 0, gap = 0 }
  local last = core.now()
  w.stop = H.tick(0.01, function()
    local t = core.now()
    if t - last > w.gap then w.gap = t - last end
    last = t
    w.n = w.n + 1
  end)
  return w
end

--- Open descriptors of this process: the least of three counts. A count is
-- taken by ls(1) through io.popen, and popen closes its pipe's other end
-- only after ls has started: on a busy machine ls may still see that end.
-- A descriptor left open is in every count.
function M.fds()
  local least
  for _ = 1, 3 do
    local n = 0
    local p = io.popen("ls /proc/" .. M.pid() .. "/fd 2>/dev/null")
    for _ in p:lines() do n = n + 1 end
    p:close()
    n = n - 1 -- the pipe to ls
    if not least or n < least then least = n end
  end
  return least
end

--- This process's id (from /proc/self, read by this process, not a child).
function M.pid()
  local f = io.open("/proc/self/stat")
  local pid = f and tonumber(f:read("*l"):match("^(%d+)"))
  if f then f:close() end
  return pid
end

add("a host timer keeps firing while a call waits on a 1 s-slow answer", function(H, S)
  S.srv:script{ { delay = 1 } }
  local c = client(H, S)
  local w = watch_ticks(H)
  local st = spawn(H, function() return c:get_transient_token().token end)
  check(not st.done, "spawn waited for the answer")
  check(H.drive(function() return st.done end, within(5)), "the call did not end")
  w.stop()
  c:close()
  token_of(st)
  -- A blocked host would tick once; 10 ms ticks over 1 s give about 100.
  check(w.n >= 40 / (1 + SLACK), "the host timer fired only %d times during a 1 s call", w.n)
  check(w.gap < within(0.3), "the host timer stalled for %.3f s", w.gap)
end)

add("20 calls on one client and on 20 clients run at once, at most 8 connections per client", function(H, S)
  S.srv:reset()
  S.srv:script{ { delay = 0.5, ["repeat"] = 40 } }
  local one = client(H, S, { client_identifier = "one" })
  local many, sts = {}, {}
  local t0 = core.now()
  for i = 1, 20 do
    sts[#sts + 1] = spawn(H, function() return one:get_transient_token().token end)
    many[i] = client(H, S, { client_identifier = "many-" .. i })
    sts[#sts + 1] = spawn(H, function(c) return c:get_transient_token().token end, many[i])
  end
  check(H.drive(all_done(sts), within(15)), "not all 40 calls ended")
  local elapsed = core.now() - t0
  local seen = {}
  for _, st in ipairs(sts) do
    local t = token_of(st)
    check(not seen[t], "token %s twice", t)
    seen[t] = true
  end
  -- Sequential calls would take 20 s; 8 connections for the one client, 3 rounds.
  check(elapsed < within(4), "40 calls of 0.5 s took %.1f s", elapsed)
  local conns, others = {}, {}
  for _, r in ipairs(S.srv:log()) do
    if r.headers["x-plex-client-identifier"] == "one" then conns[r.conn_id] = true
    else others[r.conn_id] = true end
  end
  local n = 0
  for _ in pairs(conns) do n = n + 1 end
  check(n >= 2 and n <= 8, "the one client used %d connections", n)
  local m = 0
  for _ in pairs(others) do m = m + 1 end
  check(m == 20, "20 clients used %d connections", m)
  one:close()
  for _, c in ipairs(many) do c:close() end
end)

add("every error class reaches the task and on_done(false, err)", function(H, S)
  S.srv:reset()
  local good = client(H, S, { retries = false })
  local bad = client(H, S, { token = "wrong-token", retries = false })
  local closed = plexauth.new{ server_url = "http://127.0.0.1:" .. fake.free_port(), loop = H.loop,
                               retries = false }
  local slow = client(H, S, { timeout = 0.3, retries = false })
  -- Unscripted ones at once; then one scripted answer at a time (the fake
  -- hands its script to requests in the order they arrive).
  local sts = {
    argument = spawn(H, function() return good:get_transient_token("bogus") end),
    unauthorized = spawn(H, function() return bad:get_transient_token() end),
    connect = spawn(H, function() return closed:get_transient_token() end),
  }
  local list = { sts.argument, sts.unauthorized, sts.connect }
  check(H.drive(all_done(list), within(5)), "not every failing call ended")
  for name, b in pairs({ api = { status = 500 }, decode = { token_missing = true }, timeout = { delay = 2 } }) do
    S.srv:script{ b }
    local c = name == "timeout" and slow or good
    sts[name] = spawn(H, function() return c:get_transient_token() end)
    check(H.drive(function() return sts[name].done end, within(5)), "the %s call did not end", name)
  end
  for _, st in pairs(sts) do check(st.ok == false, "a failing call succeeded") end
  is_error(sts.argument.res[1], errors.ArgumentError)
  is_error(sts.api.res[1], errors.APIError)
  check(sts.api.res[1].status_code == 500, "status %s", tostring(sts.api.res[1].status_code))
  is_error(sts.decode.res[1], errors.DecodeError)
  is_error(sts.unauthorized.res[1], errors.Unauthorized)
  is_error(sts.connect.res[1], errors.TransportError)
  check(sts.connect.res[1].reason == "connect", "reason %s", tostring(sts.connect.res[1].reason))
  is_error(sts.timeout.res[1], errors.TransportError)
  check(sts.timeout.res[1].reason == "timeout", "reason %s", tostring(sts.timeout.res[1].reason))
  for _, c in ipairs({ good, bad, closed, slow }) do c:close() end
end)

add("a retried 503 and 429 wait on the loop's timers", function(H, S)
  S.srv:reset()
  S.srv:script{ { status = 503 }, { status = 429, headers = { ["Retry-After"] = "1" } } }
  local c = client(H, S, { retries = { initial_interval = 0.3 } })
  local w = watch_ticks(H)
  local st = spawn(H, function() return c:get_transient_token().token end)
  check(H.drive(function() return st.done end, within(6)), "the retried call did not end")
  w.stop()
  token_of(st)
  check(#S.srv:log() == 3, "%d requests, not 3", #S.srv:log())
  check(w.n >= 50 / (1 + SLACK), "the host timer fired only %d times during the back-off", w.n)
  check(w.gap < within(0.3), "the host timer stalled for %.3f s", w.gap)
  c:close()
end)

local function cancelled(st)
  check(st.ok == false, "a cancelled call succeeded")
  local e = st.res[1]
  is_error(e, errors.TransportError)
  check(e.reason == "cancelled" and e.curl_code == 42, "reason %s, curl_code %s", tostring(e.reason),
        tostring(e.curl_code))
end

add("task:cancel() ends a call in flight or in back-off at once; nothing more is sent", function(H, S)
  S.srv:reset()
  S.srv:script{ { delay = 5 }, { status = 503 } }
  local c = client(H, S, { retries = { initial_interval = 3 } })
  local st = spawn(H, function() return c:get_transient_token() end)
  local backoff = spawn(H, function() return c:request{ path = "/identity" } end)
  check(H.drive(function() return #S.srv:log() == 2 end, within(3)), "the requests did not arrive")
  H.drive(function() return false end, within(0.2)) -- the 503 came back: in back-off
  check(not st.done and not backoff.done, "a call ended early")
  local t0 = core.now()
  st.task:cancel()
  backoff.task:cancel()
  check(H.drive(function() return st.done and backoff.done end, within(2)), "cancelled calls did not end")
  local took = core.now() - t0
  check(took < within(0.5), "cancelling took %.3f s", took)
  cancelled(st)
  cancelled(backoff)
  check(st.task:done() and select(1, st.task:result()) == false, "task:result() after cancel")
  st.task:cancel() -- no effect on a finished task
  H.drive(function() return false end, within(0.3))
  check(#S.srv:log() == 2, "%d requests after cancelling, not 2", #S.srv:log())
  check(not tostring(st.res[1]):find(S.srv.token, 1, true), "the token in a cancelled error")
  c:close()
end)

add("a loop client called outside a task raises ArgumentError before any traffic", function(H, S)
  S.srv:reset()
  local c = client(H, S)
  local ok, err = pcall(c.get_transient_token, c)
  check(not ok, "the call from the main thread succeeded")
  is_error(err, errors.ArgumentError)
  if H.name ~= "copas" then -- copas cannot tell its threads from other coroutines
    local co = coroutine.create(function() return c:request{ path = "/identity" } end)
    local cok, cerr = coroutine.resume(co)
    check(not cok, "the call from a plain coroutine succeeded")
    is_error(cerr, errors.ArgumentError)
  end
  check(#S.srv:log() == 0, "%d requests reached the server", #S.srv:log())
  c:close()
end)

add("client:close() with calls in flight ends them with reason cancelled", function(H, S)
  S.srv:reset()
  S.srv:script{ { delay = 3, ["repeat"] = 3 } }
  local c = client(H, S)
  local sts = {}
  for i = 1, 3 do sts[i] = spawn(H, function() return c:get_transient_token() end) end
  check(H.drive(function() return #S.srv:log() == 3 end, within(3)), "the requests did not arrive")
  local t0 = core.now()
  c:close()
  check(H.drive(all_done(sts), within(2)), "calls of a closed client did not end")
  check(core.now() - t0 < within(0.5), "closing took %.3f s", core.now() - t0)
  for _, st in ipairs(sts) do cancelled(st) end
  local ok, err = pcall(c.close, c)
  check(ok, "a second close raised %s", tostring(err))
end)

add("connect_device probes inside a task; the new client inherits the loop", function(H, S)
  S.srv:reset()
  local c = client(H, S)
  local dead = fake.free_port()
  local dev = { access_token = S.srv.token, connections = {
    { protocol = "http", address = "127.0.0.1", port = dead, uri = "http://127.0.0.1:" .. dead, ["local"] = true },
    { protocol = "http", address = "127.0.0.1", port = S.srv.port, uri = S.srv.url },
  } }
  local st = spawn(H, function()
    local direct, conn = c:connect_device(dev, { timeout = 2 })
    local t = direct:get_transient_token().token
    direct:close()
    return t, conn.uri
  end)
  check(H.drive(function() return st.done end, within(5)), "connect_device did not end")
  token_of(st)
  check(st.res[2] == S.srv.url, "chose %s", tostring(st.res[2]))
  c:close()
end)

add("spawn works inside a task and inside on_done; results and errors of tasks", function(H, S)
  S.srv:reset()
  local c = client(H, S)
  local inner, after
  local outer = H.loop:spawn(function()
    inner = spawn(H, function() return c:get_transient_token().token end)
    return 1, 2
  end, function()
    after = spawn(H, function() return c:get_transient_token().token end)
  end)
  check(H.drive(function() return outer:done() and inner and inner.done and after and after.done end, within(5)),
        "tasks did not end")
  local ok, a, b = outer:result()
  check(ok == true and a == 1 and b == 2, "outer:result() is %s %s %s", tostring(ok), tostring(a), tostring(b))
  token_of(inner)
  token_of(after)
  local e = H.loop:spawn(function() error({ mine = true }) end, function() end)
  check(H.drive(function() return e:done() end, within(2)), "a failing task did not end")
  local eok, err = e:result()
  check(eok == false and type(err) == "table" and err.mine, "result of a failing task")
  local ok2, aerr = pcall(H.loop.spawn, H.loop, "not a function")
  check(not ok2, "spawn took a string")
  is_error(aerr, errors.ArgumentError)
  c:close()
end)

-- Lua 5.1 cannot yield across pcall; LuaJIT and 5.2+ can. On 5.1 a
-- coroutine-aware pcall (lua-coxpcall) works.
local yielding_pcall = pcall
if _VERSION == "Lua 5.1" and type(jit) ~= "table" then yielding_pcall = require("coxpcall").pcall end

add("a task catches a call's error and goes on", function(H, S)
  S.srv:reset()
  S.srv:script{ { status = 500 } }
  local c = client(H, S, { retries = false })
  local st = spawn(H, function()
    local ok, err = yielding_pcall(c.get_transient_token, c)
    return ok, err, c:get_transient_token().token
  end)
  check(H.drive(function() return st.done end, within(5)), "the task did not end")
  check(st.ok, "the task failed: %s", tostring(st.res[1]))
  check(st.res[1] == false, "the first call succeeded")
  is_error(st.res[2], errors.APIError)
  check(type(st.res[3]) == "string", "no token after the error")
  c:close()
end)

add("threads the program starts itself may call a loop client", function(H, S)
  if not H.foreign then return end -- owned loops: tasks only
  S.srv:reset()
  local c = client(H, S)
  local st = {}
  H.foreign(function()
    st.res = { c:get_transient_token().token }
    st.done, st.ok = true, true
  end)
  check(H.drive(function() return st.done end, within(5)), "the host's own thread did not end")
  token_of(st)
  c:close()
end)

add("nothing of the host stays active while no call is in flight", function(H, S)
  if not H.idle_returns then return end
  S.srv:reset()
  local c = client(H, S)
  local st = spawn(H, function() return c:get_transient_token().token end)
  check(H.drive(function() return st.done end, within(5)), "the call did not end")
  token_of(st)
  check(H.idle_returns(), "the host's loop found work left after the call")
  c:close()
end)

--- Runs every case with host H; returns passed, failed and the failures'
-- messages. `report(name, ok, err)` is called after each.
function M.run(H, report)
  local S = { srv = fake.start{} }
  local passed, failed = 0, 0
  local fds = M.fds()
  for _, case in ipairs(M) do
    local ok, err = pcall(case.fn, H, S)
    if ok then passed = passed + 1 else failed = failed + 1 end
    report(case.name, ok, err)
  end
  collectgarbage("collect")
  collectgarbage("collect")
  local now = M.fds()
  local ok = now <= fds
  if ok then passed = passed + 1 else failed = failed + 1 end
  local listing = ""
  if not ok then -- what is left, for the failure's message
    local p = io.popen("ls -l /proc/" .. M.pid() .. "/fd 2>&1")
    listing = "\n" .. p:read("*a")
    p:close()
  end
  report("no descriptor is left open (" .. fds .. " before, " .. now .. " after)", ok,
         ok or string.format("%d descriptors before the cases, %d after%s", fds, now, listing))
  S.srv:stop()
  return passed, failed
end

return M
