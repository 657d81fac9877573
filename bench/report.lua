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
local fns, ablate, coldir, cli = {}, {}, {}, {}
local wall, setup, rss, ir, irobj, label, cold, req, info = {}, {}, {}, {}, {}, {}, {}, {}, {}
local function push(t, k, v) t[k] = t[k] or {}; table.insert(t[k], v) end
for line in io.lines(arg[1]) do
  local w = {}
  for x in line:gmatch("%S+") do w[#w + 1] = x end
  local kind, id = w[1], tonumber(w[2])
  if kind == "wall" then push(wall, id, tonumber(w[4])); push(setup, id, tonumber(w[5]))
  elseif kind == "rss" then push(rss, id, tonumber(w[4]))
  elseif kind == "ir" then ir[id] = tonumber(w[3])
  elseif kind == "fn" then fns[id] = fns[id] or {}; fns[id][w[4] .. " [" .. w[5] .. "]"] = tonumber(w[3])
  elseif kind == "irobj" then irobj[id] = irobj[id] or {}; irobj[id][w[3]] = tonumber(w[4])
  elseif kind == "label" then label[id] = line:match("^label %d+ (.*)$")
  elseif kind == "ablate" then ablate[#ablate + 1] = { w[2], tonumber(w[3]) }
  elseif kind == "coldir" then coldir[w[2]] = tonumber(w[3])
  elseif kind == "cold" then cold[w[2]] = tonumber(w[3])
  elseif kind == "cli" then cli[w[2]] = { tonumber(w[3]), tonumber(w[4]), tonumber(w[5]) }
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
p("\nWall time: median (and range) over alternating rounds of the steady-state loop (calls 2..N, timed inside the client,")
p("so process start and the first call are excluded). Ir/call: callgrind instructions of the")
p("client process, (Ir at the large N - Ir at the small N) / difference, so start-up does not count.\n")
p("| # | client | µs/call | min–max µs |  calls/s | wall × #3 | Ir/call | Ir × #3 | peak RSS KiB | new + 1st call µs |")
p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
local w3, i3 = median(wall[3]), ir[3]
for id = 1, 6 do
  local w = median(wall[id])
  if w or ir[id] then
    local lo, hi = math.min(table.unpack(wall[id] or { 0 })), math.max(table.unpack(wall[id] or { 0 }))
    p(("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |"):format(id, NAMES[id], fmt("%.2f", w and w * 1e6),
      w and ("%.1f–%.1f"):format(lo * 1e6, hi * 1e6) or "-", fmt("%.0f", w and 1 / w), ratio(w, w3), fmt("%.0f", ir[id]), ratio(ir[id], i3),
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

-- top functions per call of the plexauth clients, next to the baselines
for _, id in ipairs { 1, 2 } do
  if fns[id] then
    local list = {}
    for k, v in pairs(fns[id]) do list[#list + 1] = { k, v } end
    table.sort(list, function(x, y) return x[2] > y[2] end)
    p(("\nTop functions of client %d by Ir/call (self cost; libcurl and the Lua VM are stripped, so"):format(id))
    p("some show as addresses; the same address in another client is the same code):\n")
    p(("| function [object] | #%d | #3 | #4 | #%d − #3 |"):format(id, id))
    p("|---|---:|---:|---:|---:|")
    for i = 1, math.min(25, #list) do
      local k, v = list[i][1], list[i][2]
      local b3, b4 = fns[3] and fns[3][k], fns[4] and fns[4][k]
      p(("| `%s` | %d | %s | %s | %+d |"):format(k, v, fmt("%d", b3), fmt("%d", b4), v - (b3 or 0)))
    end
  end
end

if #ablate > 0 then
  local what = { u = "User-Agent header (plexauth's default)", h = "header callback copying the headers",
    t = "timeouts", p = "protocols, size limit, error buffer, TLS verify", r = "URL and method set before every call",
    hutpr = "all of the above" }
  local base
  for _, a in ipairs(ablate) do if a[1] == "-" then base = a[2] end end
  if base then
    p("\nlibcurl-side cost of plexauth's transfer settings: client 3 without its User-Agent, then with")
    p(("one setting added (Ir/call; base %d):\n"):format(base))
    p("| added to the base | Ir/call | Δ vs base |")
    p("|---|---:|---:|")
    for _, a in ipairs(ablate) do
      if a[1] ~= "-" then p(("| %s | %d | %+d |"):format(what[a[1]] or a[1], a[2], a[2] - base)) end
    end
  end
end

if next(cold) then
  p("\nCold start (hyperfine, median process time; \"over bare\" subtracts `lua -e ''` of the same")
  p("interpreter). plexauth.core and lua-curl both load libcurl and its dependencies:\n")
  p("| command | ms | ms over bare | × require \"cjson\" | M Ir | M Ir over bare |")
  p("|---|---:|---:|---:|---:|---:|")
  local keys = {}
  for k in pairs(cold) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local lua, m = k:match("^(.-):(.*)$")
    local bare, cj = cold[lua .. ":none"], cold[lua .. ":cjson"] or cold["lua5.4:cjson"]
    local base = cj and cold[(cold[lua .. ":cjson"] and lua or "lua5.4") .. ":none"]
    if m ~= "none" then
      local ci, bi = coldir[k], coldir[lua .. ":none"]
      p(("| `%s -e 'require \"%s\"'` | %.2f | %.2f | %s | %s | %s |"):format(lua, m, cold[k] * 1e3, (cold[k] - bare) * 1e3,
        (m ~= "cjson" and cj and cj - base > 0) and ("%.0f×"):format((cold[k] - bare) / (cj - base)) or "-",
        fmt("%.2f", ci and ci / 1e6), fmt("%.2f", ci and bi and (ci - bi) / 1e6)))
    else
      p(("| `%s -e ''` | %.2f | - | - | %s | - |"):format(lua, cold[k] * 1e3, fmt("%.2f", coldir[k] and coldir[k] / 1e6)))
    end
  end
  if req[1] then p(("- in-process `require \"plexauth\"` (client 1, median): %.2f ms"):format(median(req[1]) * 1e3)) end
end

if next(cli) then
  p("\nCLI start-up (hyperfine, whole process, one token request to the same nginx; median ms):\n")
  p("| command | median ms | mean ± σ ms | × curl |")
  p("|---|---:|---:|---:|")
  local names = { curl = "`curl -s -H X-Plex-Token:… URL/security/token`", plexauth = "`plexauth token` (bin/plexauth)",
                  core = "`lua -e 'require \"plexauth.core\"'` (no request: the floor)" }
  for _, k in ipairs({ "curl", "plexauth", "core" }) do
    local r = cli[k]
    if r then
      p(("| %s | %.2f | %.2f ± %.2f | %.2f× |"):format(names[k], r[1] * 1e3, r[2] * 1e3, r[3] * 1e3,
        cli.curl and r[1] / cli.curl[1] or 0))
    end
  end
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
if cli.curl and cli.plexauth then
  t("CLI start-up ≤ 1.3× curl", cli.plexauth[1], cli.curl[1], function(a, b) return a <= 1.3 * b end, "%.2f×")
end
t("not slower than lua-curl (client 5)", w1, w5, function(a, b) return a <= b end, "%.2f× client 5")
t("≥ 2× faster than socket.http (client 6)", w6, w1, function(a, b) return a >= 2 * b end, "client 6 / client 1 = %.2f×")
