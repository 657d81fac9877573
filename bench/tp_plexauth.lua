-- Throughput client: N get_transient_token calls, K in flight, with plexauth.
-- usage: lua5.4 bench/tp_plexauth.lua poll|luv|blocking BASE_URL N K
-- poll/luv: K tasks of that loop take calls from a shared count until N are
-- done; ceil(K/8) clients, tasks spread over them (a client keeps at most 8
-- connections). blocking: one client, N calls in a row (K must be 1).
-- Prints "RESULT calls= wall_s= cpu_s=": wall on a monotonic clock and the
-- process's CPU time (os.clock: user+sys) from the first client to the last answer.
local mode, base, n, k = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4])
local plexauth = require("plexauth")
local now = require("plexauth.core").now

local function check(res)
  if res.token ~= "transient-bench-token" then error("bad token: " .. tostring(res.token)) end
end
local opts = { server_url = base, token = "bench-token", client_identifier = "bench" }
local left, finished = n, 0

local t0, c0 = now(), os.clock()
if mode == "blocking" then
  assert(k == 1, "blocking calls are sequential: K must be 1")
  local c = plexauth.new(opts)
  for _ = 1, n do check(c:get_transient_token()) end
  finished = n
else
  local uv = mode == "luv" and require("luv")
  local loop = uv and plexauth.loops.luv(uv) or plexauth.loops.poll()
  opts.loop = loop
  local clients = {}
  for i = 1, math.ceil(k / 8) do clients[i] = plexauth.new(opts) end
  local function worker(c)
    while left > 0 do
      left = left - 1
      check(c:get_transient_token())
      finished = finished + 1
    end
  end
  local function on_done(ok, err)
    if not ok then io.stderr:write("task failed: ", tostring(err), "\n"); os.exit(1) end
  end
  for i = 1, k do loop:spawn(worker, on_done, clients[(i - 1) % #clients + 1]) end
  if uv then uv.run() else loop:run() end
end
local wall, cpu = now() - t0, os.clock() - c0
assert(finished == n, ("%d of %d calls finished"):format(finished, n))
print(("RESULT calls=%d wall_s=%.6f cpu_s=%.6f"):format(n, wall, cpu))
