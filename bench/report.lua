-- Turns the records written by bench/run into a Markdown report (stdout).
-- Every ratio is against client 3 (raw libcurl loop) measured in the same run.
local NAMES = {
  "plexauth get_transient_token",
  "plexauth get_source_connection_information",
  "C libcurl loop (baseline, no JSON decode)",
  "C libcurl loop + lua-cjson decode (thin-core bound)",
  "lua-curl + cjson (Lua 5.2)",
  "LuaSocket socket.http + cjson (no keep-alive)",
}
local wall, setup, rss, ir, irobj, label, cold, req, info = {}, {}, {}, {}, {}, {}, {}, {}, {}
local function push(t, k, v) t[k] = t[k] or {}; table.insert(t[k], v) end
for line in io.lines(arg[1]) do
  local w = {}
  for x in line:gmatch("%S+") do w[#w + 1] = x end
  local kind, id = w[1], tonumber(w[2])
  if kind == "wall" then push(wall, id, tonumber(w[4])); push(setup, id, tonumber(w[5]))
  elseif kind == "rss" then push(rss, id, tonumber(w[4]))
  elseif kind == "ir" then ir[id] = tonumber(w[3])
  elseif kind == "irobj" then irobj[id] = irobj[id] or {}; irobj[id][w[3]] = tonumber(w[4])
  elseif kind == "label" then label[id] = line:match("^label %d+ (.*)$")
  elseif kind == "cold" then cold[w[2]] = tonumber(w[3])
  elseif kind == "require" then push(req, 1, tonumber(w[3]))
  elseif kind == "info" then info[#info + 1] = line:sub(6) end
end
local function median(t)
  if not t then return nil end
  local s = { table.unpack(t) }
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end
local function fmt(f, v) return v and f:format(v) or "-" end
local function ratio(a, b) return (a and b) and ("%.2f×"):format(a / b) or "-" end

local p = print
p("# plexauth benchmark results\n")
for _, l in ipairs(info) do p("- " .. l) end
p("\nWall time: median over rounds of the steady-state loop (calls 2..N, timed inside the client,")
p("so process start and the first call are excluded). Ir/call: callgrind instructions of the")
p("client process, (Ir at the large N - Ir at the small N) / difference, so start-up does not count.\n")
p("| # | client | µs/call | calls/s | wall × #3 | Ir/call | Ir × #3 | peak RSS KiB | new + 1st call µs |")
p("|---|---|---:|---:|---:|---:|---:|---:|---:|")
local w3, i3 = median(wall[3]), ir[3]
for id = 1, 6 do
  local w = median(wall[id])
  if w or ir[id] then
    p(("| %d | %s | %s | %s | %s | %s | %s | %s | %s |"):format(id, NAMES[id], fmt("%.2f", w and w * 1e6),
      fmt("%.0f", w and 1 / w), ratio(w, w3), fmt("%.0f", ir[id]), ratio(ir[id], i3),
      fmt("%d", median(rss[id])), fmt("%.0f", median(setup[id]) and median(setup[id]) * 1e6)))
  end
end
p("\nModes as printed by the clients:\n")
for id = 1, 6 do if label[id] then p(("- %d: %s"):format(id, label[id])) end end

-- instructions per call by shared object (self cost), grouped: where the instructions go
local GROUPS = { "plexauth core.so", "Lua VM", "lua-cjson", "libcurl", "lua-curl/LuaSocket", "libc", "other" }
local function group(o)
  if o:match("^curl_loop") then return "other"
  elseif o == "core.so" then return "plexauth core.so"
  elseif o:match("cjson") then return "lua-cjson"
  elseif o:match("^lua5%.%d$") or o:match("^liblua5%.%d%.so$") then return "Lua VM"
  elseif o:match("^libcurl") then return "libcurl"
  elseif o:match("curl") or o:match("socket") or o:match("mime") then return "lua-curl/LuaSocket"
  elseif o == "libc.so" then return "libc" end
  return "other"
end
if next(irobj) then
  p("\nInstructions per call by object (callgrind self cost, steady state; \"Lua VM\" includes the")
  p("Lua code of the wrapper and of socket.http; \"other\" is the executable, ld.so, libm, ...):\n")
  p("| # | " .. table.concat(GROUPS, " | ") .. " |")
  p("|---|" .. ("---:|"):rep(#GROUPS))
  for id = 1, 6 do
    if irobj[id] then
      local sum = {}
      for o, v in pairs(irobj[id]) do local g = group(o); sum[g] = (sum[g] or 0) + v end
      local row = {}
      for i, g in ipairs(GROUPS) do row[i] = fmt("%.0f", sum[g]) end
      p(("| %d | %s |"):format(id, table.concat(row, " | ")))
    end
  end
end

if cold.none then
  p(("\nCold start (hyperfine, median of process runs): `lua -e ''` %.2f ms"):format(cold.none * 1e3))
  local base = cold.cjson and cold.cjson - cold.none
  for _, m in ipairs { "cjson", "plexauth" } do
    if cold[m] then
      p(("- `require \"%s\"`: %.2f ms process, %.2f ms over bare Lua%s"):format(m, cold[m] * 1e3,
        (cold[m] - cold.none) * 1e3, m ~= "cjson" and base and base > 0
          and (" (%.1f× the cost of require \"cjson\")"):format((cold[m] - cold.none) / base) or ""))
    end
  end
  if req[1] then p(("- in-process `require \"plexauth\"` (client 1, median): %.2f ms"):format(median(req[1]) * 1e3)) end
end

local s1, s3, w1 = median(setup[1]), median(setup[3]), median(wall[1])
if s1 and w1 then
  p(("\nConnection set-up: plexauth.new + first call %.0f µs (%.1f× a steady-state call); C loop easy_init + first call %.0f µs.")
    :format(s1 * 1e6, s1 / w1, s3 * 1e6))
end

p("\nTargets (printed, not asserted), client 1 vs the same run:\n")
local w5, w6 = median(wall[5]), median(wall[6])
local function target(name, ok, detail)
  p(("- %s %s (%s)"):format(ok == nil and "SKIP" or ok and "PASS" or "MISS", name, detail))
end
local function t(name, a, b, cmp, detail)
  if a and b then target(name, cmp(a, b), detail:format(a / b)) else target(name, nil, "no data") end
end
t("steady-state wall per call ≤ 1.25× client 3", w1, w3, function(a, b) return a <= 1.25 * b end, "%.2f×")
t("instructions per call ≤ 1.5× client 3", ir[1], i3, function(a, b) return a <= 1.5 * b end, "%.2f×")
t("not slower than lua-curl (client 5)", w1, w5, function(a, b) return a <= b end, "%.2f× client 5")
t("≥ 2× faster than socket.http (client 6)", w6, w1, function(a, b) return a >= 2 * b end, "client 6 / client 1 = %.2f×")
