-- Client 5: Debian lua-curl (Lua-cURL 0.3, Lua 5.1/5.2 only) + lua-cjson, one reused handle.
-- usage: lua5.2 client_luacurl.lua BASE_URL N
local gettime = require("socket").gettime
local curl, cjson = require "curl", require "cjson"
local base, n = arg[1], tonumber(arg[2])
local t0 = gettime()
local h = curl.easy_init()
h:setopt(curl.OPT_URL, base .. "/security/token?type=delegation&scope=all")
-- The same request as plexauth's, User-Agent included (bench/run sets BENCH_UA).
local headers = { "X-Plex-Token: bench-token", "X-Plex-Client-Identifier: bench",
  "Accept: application/json" }
if os.getenv("BENCH_UA") then headers[#headers + 1] = "User-Agent: " .. os.getenv("BENCH_UA") end
h:setopt(curl.OPT_HTTPHEADER, headers)
local buf = {}
h:setopt(curl.OPT_WRITEFUNCTION, function(s, len) buf[#buf + 1] = s; return len end)
local t1 = t0
for i = 1, n do
  buf = {}
  h:perform()
  local tok = cjson.decode(table.concat(buf)).MediaContainer.token
  if tok ~= "transient-bench-token" then error("bad token: " .. tostring(tok)) end
  if i == 1 then t1 = gettime() end
end
local t2 = gettime()
print(("RESULT n=%d setup_s=%.9f loop_s=%.9f mode=lua-curl %s on %s + cjson"):format(
  n, t1 - t0, t2 - t1, curl._VERSION or "", _VERSION))
