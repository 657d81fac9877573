-- Turns the records written by bench/run into a Markdown report (stdout): first the
-- non-blocking mode's and the CLI's tables (issues 9 and 11), then the blocking clients,
-- where every ratio is against client 3 (raw libcurl loop) measured in the same run.
local NAMES = {
  "plexauth get_transient_token",
  "plexauth get_source_connection_information",
  "C libcurl loop (baseline, no JSON decode)",
  "C libcurl loop + lua-cjson decode (thin-core bound)",
  "lua-curl + cjson (Lua 5.2)",
  "LuaSocket socket.http + cjson (no keep-alive)",
}
local fns, ablate, coldir = {}, {}, {}
local tp, tpn, stall, cli, cliir = {}, {}, {}, {}, {}
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
  elseif kind == "tp" then -- server client k round calls wall_s cpu_s
    local key = w[2] .. " " .. w[3] .. " " .. w[4]
    tpn[w[2]] = tonumber(w[6])
    push(tp, key .. " rate", tonumber(w[6]) / tonumber(w[7]))
    push(tp, key .. " cpu", tonumber(w[8]) / tonumber(w[6]))
  elseif kind == "stall" then -- host key=value...
    stall[w[2]] = {}
    for k, v in line:gmatch("([%w_]+)=(%S+)") do stall[w[2]][k] = tonumber(v) end
  elseif kind == "cli" then cli[w[2]] = { median = tonumber(w[3]), mean = tonumber(w[4]), sd = tonumber(w[5]),
                                          min = tonumber(w[6]), runs = tonumber(w[8]) }
  elseif kind == "cliir" then cliir[w[2]] = tonumber(w[3])
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
local function grouped(id) -- group name -> Ir/call of client id
  local sum = {}
  for o, v in pairs(irobj[id] or {}) do local g = group(o); sum[g] = (sum[g] or 0) + v end
  return sum
end
local function ratio(a, b) return (a and b) and ("%.2f×"):format(a / b) or "-" end

local p = print
p("# plexauth benchmark results\n")
for _, l in ipairs(info) do p("- " .. l) end
local function verdict(ok) if ok == nil then return "SKIP" end return ok and "PASS" or "MISS" end

-- (1) host stall and (4) cancel latency: bench/stall.lua in each host
local HOSTS = { { "luv", "luv (lua-luv 1.44, Lua 5.4)" }, { "nvim", "Neovim 0.7 headless (vim.loop, LuaJIT)" },
  { "cqueues", "cqueues (Lua 5.4)" }, { "copas", "copas 1.2 (Lua 5.2)" }, { "poll", "poll: plexauth's own loop (Lua 5.4)" },
  { "mpv", "mpv 0.35 (mp.add_timeout, its Lua 5.2)" } }
local function ms(v, f) return fmt(f or "%.1f", v and v * 1e3) end
-- Calls fn(host, figures) for each host of HOSTS that has stall figures.
local function stalled(fn)
  for _, h in ipairs(HOSTS) do
    if stall[h[1]] then fn(h, stall[h[1]]) end
  end
end

if next(stall) then
  local any = select(2, next(stall))
  p("\n## 1. Host stall: a 10 ms host timer while plexauth calls wait on a 1 s-slow server\n")
  p("Gap = time between two ticks of a periodic 10 ms timer of the host (ms; 10 is perfect). Idle: the timer")
  p(("alone for %d ticks, no plexauth call. During calls: %d tasks on one client, each making %d calls in a row to a"):format(
    any.idle_n, any.tasks, any.rounds))
  p("loopback server that answers each after 1 s (bench/slow_server.js); \"calls took\" shows they overlapped.\n")
  p("| host | idle max | idle p99 | during calls: max | p99 | median | ticks | calls took s | target max | |")
  p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
  stalled(function(h, s)
    local limit = h[1] == "mpv" and 0.060 or 0.015
    p(("| %s | %s | %s | %s | %s | %s | %d | %.2f | ≤ %.0f | %s |"):format(h[2], ms(s.idle_max), ms(s.idle_p99),
      ms(s.calls_max), ms(s.calls_p99), ms(s.calls_med), s.calls_n, s.calls_s, limit * 1e3, verdict(s.calls_max <= limit)))
  end)
  p("\n## 4. Cancel latency: task:cancel() of a call waiting on a hung server\n")
  p(("Each of %d times: a task's call has waited 0.2 s on a server that never answers; a host timer tick calls"):format(
    any.cancel_end_n))
  p("`task:cancel()`. Returned: until `cancel()` returns to the caller; ended: until the task's `on_done` has run")
  p("with `reason = \"cancelled\"` (ms).\n")
  p("| host | returned: median | max | ended: median | max | target | |")
  p("|---|---:|---:|---:|---:|---:|---|")
  stalled(function(h, s)
    p(("| %s | %s | %s | %s | %s | ≤ 10 | %s |"):format(h[2], ms(s.cancel_return_med, "%.2f"), ms(s.cancel_return_max, "%.2f"),
      ms(s.cancel_end_med, "%.2f"), ms(s.cancel_end_max, "%.2f"),
      verdict(math.max(s.cancel_return_max, s.cancel_end_max) <= 0.010)))
  end)
end

-- (2) throughput: bench/tp_plexauth.lua, bench/tp_luahttp.lua, bench/tp_fetch.js
local CLIENTS = { { "poll", "plexauth, poll loop (Lua 5.4)" }, { "luv", "plexauth, luv loop (Lua 5.4)" },
  { "blocking", "plexauth, blocking (sequential)" }, { "lua-http", "lua-http 0.4 on cqueues (Lua 5.2) + cjson" },
  { "fetch", "Node fetch, Promise.all pool" } }
local function tpv(server, client, k, what) return median(tp[server .. " " .. client .. " " .. k .. " " .. what]) end
local function rate(v) return v and ("%.0f"):format(v) or "n/a" end
local function us(v) return v and ("%.1f"):format(v * 1e6) or "n/a" end
if next(tp) then
  p("\n## 2. Throughput: get_transient_token calls, K in flight\n")
  p("calls/s: calls / wall time of the client's call phase; CPU µs/call: the client process's user+sys time over the")
  p("same phase (Lua: os.clock; Node: process.cpuUsage), per call; start-up not counted. plexauth loops: K tasks on")
  p("ceil(K/8) clients (8 connections each at most); lua-http: K threads with one keep-alive connection each;")
  p("Node: K async workers on undici's keep-alive agent. Blocking calls are sequential: only K=1 applies.\n")
  p(("Against nginx (one worker, pinned with the client on one CPU; median of %d alternating rounds of %d calls):\n")
    :format(#(tp["nginx poll 1 rate"] or {}), tpn.nginx or 0))
  p("| client | calls/s, K=1 | K=10 | K=100 | CPU µs/call, K=1 | K=10 | K=100 |")
  p("|---|---:|---:|---:|---:|---:|---:|")
  for _, c in ipairs(CLIENTS) do
    local row = {}
    for _, k in ipairs { 1, 10, 100 } do row[#row + 1] = rate(tpv("nginx", c[1], k, "rate")) end
    for _, k in ipairs { 1, 10, 100 } do row[#row + 1] = us(tpv("nginx", c[1], k, "cpu")) end
    p(("| %s | %s |"):format(c[2], table.concat(row, " | ")))
  end
  p(("\nAgainst a server that answers after 50 ms (bench/slow_server.js, Node; %d calls; K=1: one round, K=100: median):\n")
    :format(tpn.slow50 or 0))
  p("| client | calls/s, K=1 | K=100 | K=100 × blocking K=1 | CPU µs/call, K=1 | K=100 |")
  p("|---|---:|---:|---:|---:|---:|")
  local seq = tpv("slow50", "blocking", 1, "rate")
  for _, c in ipairs(CLIENTS) do
    local r100 = tpv("slow50", c[1], 100, "rate")
    p(("| %s | %s | %s | %s | %s | %s |"):format(c[2], fmt("%.1f", tpv("slow50", c[1], 1, "rate")), rate(r100),
      (r100 and seq) and ("%.0f×"):format(r100 / seq) or "n/a", us(tpv("slow50", c[1], 1, "cpu")),
      us(tpv("slow50", c[1], 100, "cpu"))))
  end
  p("\nTargets: plexauth (each of poll and luv, and blocking at K=1) ahead of lua-http and Node fetch against nginx,")
  p("and latency hiding against the 50 ms server:\n")
  for _, k in ipairs { 1, 10, 100 } do
    for _, what in ipairs { "rate", "cpu" } do
      local h, f = tpv("nginx", "lua-http", k, what), tpv("nginx", "fetch", k, what)
      local show = what == "rate" and rate or us
      for _, c in ipairs { "poll", "luv", "blocking" } do
        local v = tpv("nginx", c, k, what)
        if v and h and f then
          local ok = what == "rate" and v > math.max(h, f) or what == "cpu" and v < math.min(h, f)
          p(("- %s K=%d %s, %s: %s vs lua-http %s, Node fetch %s"):format(verdict(ok), k,
            what == "rate" and "calls/s" or "CPU µs/call", c, show(v), show(h), show(f)))
        end
      end
    end
  end
  for _, c in ipairs { "poll", "luv" } do
    local v = tpv("slow50", c, 100, "rate")
    if v and seq then
      p(("- %s 50 ms server, %s at K=100 ≥ 50× blocking sequential calls: %.0f vs %.1f calls/s = %.0f×"):format(
        verdict(v >= 50 * seq), c, v, seq, v / seq))
    end
  end
end

-- (3) blocking mode before and after the non-blocking mode: client 7 (git 8221a96) and client 1
if ir[7] and ir[1] then
  p("\n## 3. Blocking mode, Ir/call before and after the non-blocking mode\n")
  p("bench/client_plexauth.lua (blocking get_transient_token against nginx) under callgrind, (Ir at the large N -")
  p("Ir at the small N) / difference, with plexauth's lua/ and core.so from git 8221a96 (the last commit before")
  p("the non-blocking mode, built in a temporary directory) and from this tree. By object (self cost):\n")
  p("| tree | Ir/call | Δ | " .. table.concat(GROUPS, " | ") .. " |")
  p("|---|---:|---:|" .. ("---:|"):rep(#GROUPS))
  for _, id in ipairs { 7, 1 } do
    local sum, row = grouped(id), {}
    for i, g in ipairs(GROUPS) do row[i] = fmt("%.0f", sum[g]) end
    p(("| %s | %d | %+.2f %% | %s |"):format(id == 7 and "git 8221a96 (before)" or "this tree (after)", ir[id],
      (ir[id] / ir[7] - 1) * 100, table.concat(row, " | ")))
  end
  local d = ir[1] / ir[7] - 1
  p(("\n- %s blocking Ir/call within ±3 %% of before: %+.2f %%"):format(verdict(math.abs(d) <= 0.03), d * 100))
end

-- (5) CLI start-up against curl (issue 11)
if cli.curl then
  p("\n## 5. CLI start-up: `plexauth token` vs curl, whole process\n")
  p("hyperfine -N (no shell), each a whole process making one GET /security/token to nginx with the token:")
  p("the native program `build/5.4/bin/plexauth --server URL token` (csrc/cli_main.c, what `make install` installs),")
  p("the script `lua5.4 bin/plexauth --server URL token` (the rock's; LUA_PATH/LUA_CPATH on lua/ and build/5.4),")
  p("both with PLEX_TOKEN in the environment, and `curl -s -H 'X-Plex-Token: …' URL/security/token`; `lua5.4 -e")
  p("'require \"plexauth.core\"'` alone (no request) is the floor of a script. M Ir: the same process under")
  p("callgrind (instructions, undisturbed by other load).\n")
  p("| command | median ms | mean ± σ ms | min ms | runs | × curl (median) | M Ir | M Ir × curl |")
  p("|---|---:|---:|---:|---:|---:|---:|---:|")
  local names = { plexauth = "`plexauth token` (native, `make install`)", script = "`lua5.4 bin/plexauth token` (script, the rock)",
    curl = "`curl -s -H 'X-Plex-Token: …' URL/security/token`",
    core = "`lua5.4 -e 'require \"plexauth.core\"'` (a script's floor)" }
  for _, name in ipairs { "plexauth", "script", "curl", "core" } do
    local c, i = cli[name], cliir[name]
    if c then
      p(("| %s | %.2f | %.2f ± %.2f | %.2f | %d | %.2f× | %s | %s |"):format(names[name], c.median * 1e3, c.mean * 1e3,
        c.sd * 1e3, c.min * 1e3, c.runs, c.median / cli.curl.median, fmt("%.2f", i and i / 1e6),
        (i and cliir.curl) and ("%.2f×"):format(i / cliir.curl) or "-"))
    end
  end
  local bare, core, whole = coldir["lua5.4:none"], coldir["lua5.4:plexauth.core"], cliir.script
  if bare and core and whole then -- with the cold-start runs below, in instructions
    p(("\nWhere the script's %.1f M Ir go: `lua5.4 -e ''` %.1f M; `require \"plexauth.core\"` (dlopen of libcurl and"):format(
      whole / 1e6, bare / 1e6))
    p(("its dependencies, curl_global_init) +%.1f M; bin/plexauth with the modules it loads and the request +%.1f M."):format(
      (core - bare) / 1e6, (whole - core) / 1e6))
    p(("curl's whole process: %s M."):format(fmt("%.1f", cliir.curl and cliir.curl / 1e6)))
  end
  if cli.plexauth then
    local r = cli.plexauth.median / cli.curl.median
    p(("\n- %s CLI (native, as installed) within 1.3× of curl: %.2f× (median), %.2f× (min), %s in instructions"):format(
      verdict(r <= 1.3), r, cli.plexauth.min / cli.curl.min,
      (cliir.plexauth and cliir.curl) and ("%.2f×"):format(cliir.plexauth / cliir.curl) or "-"))
  end
  if cli.script then
    p(("- the script (the rock's CLI): %.2f× (median), %.2f× (min)"):format(cli.script.median / cli.curl.median,
      cli.script.min / cli.curl.min))
  end
end

if not next(wall) and not next(ir) then return end -- bench/run ran without its blocking part
p("\n## Blocking clients in detail")
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

if next(irobj) then
  p("\nInstructions per call by object (callgrind self cost, steady state; \"Lua VM\" includes the")
  p("Lua code of the wrapper and of socket.http; \"other\" is the executable, ld.so, libm, ...):\n")
  p("| # | " .. table.concat(GROUPS, " | ") .. " |")
  p("|---|" .. ("---:|"):rep(#GROUPS))
  for id = 1, 6 do
    if irobj[id] then
      local sum = grouped(id)
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
