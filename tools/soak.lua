--- Soak: many calls on one client against the fake PMS, mixing successes,
-- 401s (HTML and JSON) and 500s; the Lua heap and the process RSS must stay
-- flat. Run from the repository root (`make soak`):
--
--   LUA_PATH='lua/?.lua;lua/?/init.lua;./?.lua;;' LUA_CPATH='build/5.4/?.so;;' \
--     lua5.4 tools/soak.lua [CALLS]
--
-- Prints heap and RSS after 1 000 calls and at the end, then
-- "soak: 1 passed, 0 failed" when RSS grew by at most 1 MiB and the heap by
-- at most 64 KiB (else "soak: 0 passed, 1 failed", exit status 1).
local fake = require("spec.support.fake")
local plexauth = require("plexauth")
local errors = plexauth.errors

local CALLS = tonumber(arg[1]) or 100000
local BATCH = 1000
local RSS_SLACK_KB, HEAP_SLACK_KB = 1024, 64

local function rss_kb()
  local f = assert(io.open("/proc/self/statm"))
  local pages = tonumber(f:read("*a"):match("^%d+%s+(%d+)"))
  f:close()
  return pages * 4  -- 4 KiB pages
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
local client = plexauth.new{ server_url = srv.url, token = srv.token, timeout = 10,
                             retries = false }
local counts = { ok = 0, unauthorized = 0, api = 0 }
local marks = {}

local function mark(n)
  marks[#marks + 1] = { calls = n, heap = heap_kb(), rss = rss_kb() }
  print(string.format("soak: %6d calls  Lua heap %8.1f KiB  RSS %6d KiB", n, marks[#marks].heap,
                      marks[#marks].rss))
  io.stdout:flush()
end

local done = 0
local started = os.time()
while done < CALLS do
  srv:reset()
  srv:script(pattern)
  for _ = 1, math.min(BATCH, CALLS - done) do
    local ok, res = pcall(client.get_transient_token, client)
    if ok then
      assert(type(res.token) == "string")
      counts.ok = counts.ok + 1
    elseif errors.is(res, errors.Unauthorized) then
      counts.unauthorized = counts.unauthorized + 1
    elseif errors.is(res, errors.APIError) and res.status_code == 500 then
      counts.api = counts.api + 1
    else
      error("unexpected failure: " .. tostring(res))
    end
    done = done + 1
  end
  if done == BATCH or done == CALLS then mark(done) end
end
client:close()
srv:stop()

local first, last = marks[1], marks[#marks]
print(string.format("soak: %d calls in %d s: %d ok, %d unauthorized, %d HTTP 500",
                    done, os.time() - started, counts.ok, counts.unauthorized, counts.api))
print(string.format("soak: growth from %d to %d calls: Lua heap %+.1f KiB, RSS %+d KiB",
                    first.calls, last.calls, last.heap - first.heap, last.rss - first.rss))
local flat = last.rss - first.rss <= RSS_SLACK_KB and last.heap - first.heap <= HEAP_SLACK_KB
print(flat and "soak: 1 passed, 0 failed" or "soak: 0 passed, 1 failed")
os.exit(flat and 0 or 1)
