-- Throughput client: N GET /security/token calls, K in flight, with Debian's
-- lua-http on cqueues (Lua 5.2: its dependencies exist for 5.1/5.2 only) and
-- lua-cjson. K cqueues threads, each on one keep-alive HTTP/1.1 connection,
-- take calls from a shared count; the same request as plexauth's.
-- usage: lua5.2 bench/tp_luahttp.lua BASE_URL N K
-- Prints "RESULT calls= wall_s= cpu_s=" (as bench/tp_plexauth.lua).
local cqueues = require("cqueues")
local http_client = require("http.client")
local new_headers = require("http.headers").new
local cjson = require("cjson")
local base, n, k = arg[1], tonumber(arg[2]), tonumber(arg[3])
local host, port = base:match("^http://([^:/]+):(%d+)$")
local ua = os.getenv("BENCH_UA")
local left, finished = n, 0

local function call(conn)
  local h = new_headers()
  h:append(":method", "GET")
  h:append(":scheme", "http")
  h:append(":authority", host .. ":" .. port)
  h:append(":path", "/security/token?type=delegation&scope=all")
  h:append("x-plex-token", "bench-token")
  h:append("x-plex-client-identifier", "bench")
  h:append("accept", "application/json")
  if ua then h:append("user-agent", ua) end
  local st = assert(conn:new_stream())
  assert(st:write_headers(h, true))
  local res = assert(st:get_headers())
  if res:get(":status") ~= "200" then error("status " .. res:get(":status")) end
  local tok = cjson.decode(assert(st:get_body_as_string())).MediaContainer.token
  if tok ~= "transient-bench-token" then error("bad token: " .. tostring(tok)) end
end

local cq = cqueues.new()
local t0, c0 = cqueues.monotime(), os.clock()
for _ = 1, k do
  cq:wrap(function()
    local conn = assert(http_client.connect { host = host, port = tonumber(port), tls = false, version = 1.1 })
    while left > 0 do
      left = left - 1
      call(conn)
      finished = finished + 1
    end
    conn:close()
  end)
end
assert(cq:loop())
local wall, cpu = cqueues.monotime() - t0, os.clock() - c0
assert(finished == n, ("%d of %d calls finished"):format(finished, n))
print(("RESULT calls=%d wall_s=%.6f cpu_s=%.6f"):format(n, wall, cpu))
