-- Clients 1, 2 and 7: plexauth.  usage: lua client_plexauth.lua BASE_URL N token|source [TREE]
-- TREE: load plexauth from that source tree instead (its lua/ and build/<this Lua>/).
local gettime = require("socket").gettime -- wall clock only; not used by plexauth
local base, n, op, tree = arg[1], tonumber(arg[2]), arg[3], arg[4]
if tree then
  package.path = tree .. "/lua/?.lua;" .. tree .. "/lua/?/init.lua;" .. package.path
  local v = type(jit) == "table" and "jit" or _VERSION:match("%d+%.%d+")
  package.cpath = tree .. "/build/" .. v .. "/?.so;" .. package.cpath
end
local t0 = gettime()
local plexauth = require "plexauth"
local t_req = gettime()
local c = plexauth.new { server_url = base, token = "bench-token", client_identifier = "bench" }
local call
if op == "token" then
  call = function()
    local res = c:get_transient_token()
    if res.token ~= "transient-bench-token" then error("bad token: " .. tostring(res.token)) end
  end
else
  call = function()
    local res = c:get_source_connection_information("server://abc")
    if res.device.access_token ~= "dev-token" then error("bad access_token") end
  end
end
local t1 = t_req
for i = 1, n do
  call()
  if i == 1 then t1 = gettime() end
end
local t2 = gettime()
c:close()
print(("RESULT n=%d setup_s=%.9f loop_s=%.9f require_s=%.9f mode=plexauth %s"):format(
  n, t1 - t_req, t2 - t1, t_req - t0, op))
