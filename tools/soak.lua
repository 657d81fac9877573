--- Soak: many calls against the fake PMS, mixing successes, 401s (HTML and
-- JSON) and 500s; the Lua heap, the process RSS and the open descriptors
-- must stay flat. Run from the repository root (`make soak`):
--
--   LUA_PATH='lua/?.lua;lua/?/init.lua;./?.lua;;' LUA_CPATH='build/5.4/?.so;;' \
--     lua5.4 tools/soak.lua [CALLS [loop]]
--
-- Blocking: CALLS calls on one client. With `loop`: the calls run as tasks
-- of plexauth's poll loop, 10 at a time on one client, and every 100th
-- batch also cancels a call in flight, closes a client with a call in
-- flight and drops a third with one in flight (the garbage collector closes
-- it).
--
-- Prints heap, RSS and descriptors after 2 000 calls and at the end, then
-- "soak: 1 passed, 0 failed" (or "soak-loop: ...") when RSS grew by at most
-- 1 MiB, the heap by at most 64 KiB and no descriptor was left open (else
-- "0 passed, 1 failed", exit status 1).
local fake = require("spec.support.fake")
local plexauth = require("plexauth")
local errors = plexauth.errors

local CALLS = tonumber(arg[1]) or 100000
local LOOPED = arg[2] == "loop"
local NAME = LOOPED and "soak-loop" or "soak"
local BATCH = 1000
local RSS_SLACK_KB, HEAP_SLACK_KB = 1024, 64

local function rss_kb()
  local f = assert(io.open("/proc/self/statm"))
  local pages = tonumber(f:read("*a"):match("^%d+%s+(%d+)"))
  f:close()
  return pages * 4  -- 4 KiB pages
end

local PID
do
  local f = assert(io.open("/proc/self/stat"))
  PID = f:read("*l"):match("^%d+")
  f:close()
end

-- The least of three counts by ls(1): popen closes its pipe's other end only
-- after ls has started, and on a busy machine ls may still see it.
local function fds()
  local least
  for _ = 1, 3 do
    local n = 0
    local p = assert(io.popen("ls /proc/" .. PID .. "/fd"))
    for _ in p:lines() do n = n + 1 end
    p:close()
    if not least or n < least then least = n end
  end
  return least
end

local function heap_kb()
  collectgarbage("collect")
  collectgarbage("collect")
  return collectgarbage("count")
end

-- One batch's script: per 10 calls, 7 successes, a JSON 401, an HTML 401, a 500.
local pattern = {}
for _ = 1, BATCH / 10 do
  pattern[#pattern + 1] = { ["repeat"] = 7 }
  pattern[#pattern + 1] = { status = 401, json = true }
  pattern[#pattern + 1] = { status = 401 }
  pattern[#pattern + 1] = { status = 500 }
end

local srv = fake.start()
local loop = LOOPED and plexauth.loops.poll() or nil
local client = plexauth.new{ server_url = srv.url, token = srv.token, timeout = 10,
                             retries = false, loop = loop }
local counts = { ok = 0, unauthorized = 0, api = 0, cancelled = 0 }
local marks = {}

local function mark(n)
  marks[#marks + 1] = { calls = n, heap = heap_kb(), rss = rss_kb(), fds = fds() }
  print(string.format("%s: %6d calls  Lua heap %8.1f KiB  RSS %6d KiB  descriptors %d", NAME, n,
                      marks[#marks].heap, marks[#marks].rss, marks[#marks].fds))
  io.stdout:flush()
end

local function count(ok, res)
  if ok then
    assert(type(res.token) == "string")
    counts.ok = counts.ok + 1
  elseif errors.is(res, errors.Unauthorized) then
    counts.unauthorized = counts.unauthorized + 1
  elseif errors.is(res, errors.APIError) and res.status_code == 500 then
    counts.api = counts.api + 1
  elseif errors.is(res, errors.TransportError) and res.reason == "cancelled" then
    counts.cancelled = counts.cancelled + 1
  else
    error("unexpected failure: " .. tostring(res))
  end
end

-- One batch of the loop soak: n calls, 10 tasks at a time on one client.
local function loop_batch(n)
  local left = n
  local function next_call()
    if left == 0 then return end
    left = left - 1
    loop:spawn(function() return client:get_transient_token() end, function(ok, res)
      count(ok, res)
      next_call()
    end)
  end
  for _ = 1, 10 do next_call() end
  loop:run()
end

-- Calls that end early: one cancelled, one whose client is closed, and one
-- on a second loop that is dropped with its client and task while the call
-- is in flight (the garbage collector frees them).
local function abandon()
  srv:reset()
  srv:script{ { delay = 5, ["repeat"] = 3 } }
  local c2 = plexauth.new{ server_url = srv.url, token = srv.token, loop = loop }
  local t = loop:spawn(function() return client:get_transient_token() end, count)
  loop:spawn(function() return c2:get_transient_token() end, count)
  do
    local other = plexauth.loops.poll()
    local c3 = plexauth.new{ server_url = srv.url, token = srv.token, loop = other }
    other:spawn(function() return c3:get_transient_token() end)
    while #srv:log() < 3 do loop:step(0.01); other:step(0.01) end
  end
  t:cancel()
  c2:close()
  loop:run()
end

local done, batches = 0, 0
local started = os.time()
while done < CALLS do
  srv:reset()
  srv:script(pattern)
  local n = math.min(BATCH, CALLS - done)
  if LOOPED then
    batches = batches + 1
    loop_batch(n)
    if batches % 2 == 0 and not os.getenv("SOAK_NO_ABANDON") then abandon() end
  else
    for _ = 1, n do count(pcall(client.get_transient_token, client)) end
  end
  done = done + n
  -- The first mark comes after a batch of each kind (warmed up).
  if done == 2 * BATCH or done == CALLS or os.getenv("SOAK_VERBOSE") then mark(done) end
end
client:close()
srv:stop()
collectgarbage("collect")
mark(done)

local first, last = marks[1], marks[#marks]
print(string.format("%s: %d calls in %d s: %d ok, %d unauthorized, %d HTTP 500, %d cancelled",
                    NAME, done, os.time() - started, counts.ok, counts.unauthorized, counts.api,
                    counts.cancelled))
print(string.format("%s: growth from %d to %d calls: Lua heap %+.1f KiB, RSS %+d KiB, descriptors %+d",
                    NAME, first.calls, last.calls, last.heap - first.heap, last.rss - first.rss,
                    last.fds - first.fds))
local flat = last.rss - first.rss <= RSS_SLACK_KB and last.heap - first.heap <= HEAP_SLACK_KB
  and last.fds <= first.fds
print(NAME .. (flat and ": 1 passed, 0 failed" or ": 0 passed, 1 failed"))
os.exit(flat and 0 or 1)
os.exit(flat and 0 or 1)
