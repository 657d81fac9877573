-- Lua-side profile of the plexauth wrapper: Lua VM instructions and C-function
-- calls per steady-state call, by function and by line (debug hooks; not timed).
-- usage: lua bench/luaprof.lua BASE_URL N token|source
local base, n, op = arg[1], tonumber(arg[2]) or 200, arg[3] or "token"
local plexauth = require "plexauth"
local c = plexauth.new { server_url = base, token = "bench-token", client_identifier = "bench" }
local call = op == "token" and function() assert(c:get_transient_token().token == "transient-bench-token") end
  or function() assert(c:get_source_connection_information("server://abc").device.access_token == "dev-token") end
call() -- connection set-up and first-call effects stay out of the profile

local getinfo, byfn, byline, cfn, total = debug.getinfo, {}, {}, {}, 0
local function where(info)
  return ("%s:%d %s"):format(info.short_src:gsub("^.*/lua/", ""), info.linedefined, info.name or "?")
end
debug.sethook(function(ev)
  if ev == "count" then
    local info = getinfo(2, "Sln")
    if info.short_src:match("luaprof%.lua$") then return end -- the driver loop itself
    total = total + 1
    local f = where(info)
    byfn[f] = (byfn[f] or 0) + 1
    local l = info.short_src:gsub("^.*/lua/", "") .. ":" .. info.currentline
    byline[l] = (byline[l] or 0) + 1
  else -- "call": count C functions (what == "C")
    local info = getinfo(2, "Sn")
    if info.what == "C" then
      local k = info.name or "?"
      cfn[k] = (cfn[k] or 0) + 1
    end
  end
end, "c", 1)
for _ = 1, n do call() end
debug.sethook()

local function top(t, k, title)
  local l = {}
  for name, v in pairs(t) do l[#l + 1] = { name, v } end
  table.sort(l, function(a, b) return a[2] > b[2] end)
  print(title)
  for i = 1, math.min(k, #l) do print(("  %8.1f  %s"):format(l[i][2] / n, l[i][1])) end
end
print(("plexauth %s: %.0f Lua VM instructions per call (wrapper and callees, driver excluded)"):format(op, total / n))
top(byfn, 12, "VM instructions per call by function:")
top(byline, 15, "VM instructions per call by line:")
top(cfn, 20, "C functions called per call (by name as seen from the caller):")
