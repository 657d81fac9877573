-- Client 6: LuaSocket socket.http + lua-cjson (new connection per request: no keep-alive).
-- usage: lua client_socket.lua BASE_URL N
local socket, http, ltn12, cjson = require "socket", require "socket.http", require "ltn12", require "cjson"
local gettime = socket.gettime
local base, n = arg[1], tonumber(arg[2])
local url = base .. "/security/token?type=delegation&scope=all"
local headers = { ["X-Plex-Token"] = "bench-token", ["X-Plex-Client-Identifier"] = "bench",
  ["Accept"] = "application/json", ["User-Agent"] = os.getenv("BENCH_UA") } -- as plexauth's
local t0 = gettime()
local t1 = t0
for i = 1, n do
  local buf = {}
  local ok, code = http.request { url = url, headers = headers, sink = ltn12.sink.table(buf) }
  if not ok or code ~= 200 then error("request failed: " .. tostring(code)) end
  local tok = cjson.decode(table.concat(buf)).MediaContainer.token
  if tok ~= "transient-bench-token" then error("bad token: " .. tostring(tok)) end
  if i == 1 then t1 = gettime() end
end
local t2 = gettime()
print(("RESULT n=%d setup_s=%.9f loop_s=%.9f mode=%s socket.http on %s + cjson"):format(
  n, t1 - t0, t2 - t1, socket._VERSION, _VERSION))
