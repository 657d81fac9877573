-- The token is secret: it may travel only in the X-Plex-Token header. This
-- spec drives many failing scenarios (a hostile server echoing the token
-- everywhere it can, transport faults, bad input, hooks, connect_device, the
-- CLI) and collects every error, message, hook argument and tostring; the
-- token must appear in none (only an error's `request_headers` may hold it).
local fake = require("spec.support.fake")
local plexauth = require("plexauth")
local errors = plexauth.errors

local TOKEN = "SeCrEt-tOkEn-7f3a9c1e5b"
local DEVICE_TOKEN = "DeViCe-tOkEn-42c8e0d6a1"
local SECRETS = { TOKEN, DEVICE_TOKEN }

-- Appends to `found` a description of every place in `v` (strings, table
-- keys and values, tostring of tables, recursively) that holds a secret.
local function scan(v, where, found, seen)
  seen = seen or {}
  local function check(s, at)
    for _, secret in ipairs(SECRETS) do
      if string.find(s, secret, 1, true) then found[#found + 1] = at end
      -- a token cut in half by a message is a leak too
      if string.find(s, string.sub(secret, 1, 12), 1, true) then found[#found + 1] = at .. " (part)" end
    end
  end
  local t = type(v)
  if t == "string" then
    check(v, where)
  elseif t == "table" then
    if seen[v] then return end
    seen[v] = true
    local ok, s = pcall(tostring, v)
    if ok then check(s, "tostring(" .. where .. ")") end
    for k, x in pairs(v) do
      if not (k == "request_headers" and errors.is(v)) then
        scan(k, where .. "[key]", found, seen)
        scan(x, where .. "." .. tostring(k), found, seen)
      end
    end
  elseif t == "userdata" then
    local ok, s = pcall(tostring, v)
    if ok then check(s, "tostring(" .. where .. ")") end
  end
  return found
end

describe("secrecy", function()
  local srv
  local collected   -- { {what, value}, ... } for the current test

  setup(function() srv = fake.start{ token = TOKEN } end)
  teardown(function() fake.stop_all() end)
  before_each(function()
    srv:reset()
    collected = {}
  end)

  local function keep(what, v) collected[#collected + 1] = { what, v } end

  -- Every test ends by scanning what it collected.
  after_each(function()
    assert.is_true(#collected > 0, "nothing collected")
    local found = {}
    for _, item in ipairs(collected) do scan(item[2], item[1], found) end
    assert.same({}, found)
  end)

  -- Hooks that record everything they are given.
  local hooks = {
    before_request = function(ctx, req) keep("before_request ctx", ctx); keep("before_request req", req) end,
    after_success = function(ctx, res) keep("after_success ctx", ctx); keep("after_success res", tostring(res)) end,
    after_error = function(ctx, res, err)
      keep("after_error ctx", ctx)
      keep("after_error err", err)
      if res then keep("after_error res", tostring(res)) end
    end,
  }

  local function client(opts)
    local o = { server_url = srv.url, token = TOKEN, timeout = 1, hooks = hooks,
                retries = { max_attempts = 2, initial_interval = 0, max_interval = 0 } }
    for k, v in pairs(opts or {}) do o[k] = v end
    local c = plexauth.new(o)
    keep("tostring(client)", tostring(c))
    return c
  end

  -- Runs fn and keeps its error (it must fail).
  local function fails(what, fn, ...)
    local ok, err = pcall(fn, ...)
    assert.is_false(ok, what .. " succeeded")
    assert.is_true(errors.is(err), what .. ": " .. tostring(err))
    keep(what, err)
    keep("tostring " .. what, tostring(err))
    return err
  end

  local function json_string(s) return '"' .. s .. '"' end

  it("a server echoing the token in bodies, headers and types", function()
    local c = client()
    local echo_headers = { ["X-Echo"] = TOKEN, ["Set-Cookie"] = "t=" .. TOKEN,
                           ["WWW-Authenticate"] = 'Plex token="' .. TOKEN .. '"' }
    local cases = {
      { status = 500, body = "your token is " .. TOKEN, headers = echo_headers },
      { status = 503, body = TOKEN, content_type = "text/plain; t=" .. TOKEN },
      { status = 401, body = '{"errors":[{"code":' .. json_string(TOKEN) .. ',"message":'
          .. json_string("bad token " .. TOKEN) .. ',"status":' .. json_string(TOKEN) .. '}]}',
        content_type = "application/json", headers = echo_headers },
      { status = 401, body = "<h1>" .. TOKEN .. "</h1>", content_type = "text/html" },
      { status = 404, body = '{"token":"' .. TOKEN .. '"}', content_type = "application/json" },
      { redirect = "http://127.0.0.1:1/?X-Plex-Token=" .. TOKEN, headers = echo_headers },
      { status = 200, body = "not json " .. TOKEN, content_type = "text/plain", headers = echo_headers },
      { status = 200, body = '{"MediaContainer":{"echo":"' .. TOKEN .. '"}}',
        content_type = "application/json; " .. TOKEN },
      { status = 200, body = '{"MediaContainer":{"token":"' .. TOKEN, content_type = "application/json" },
    }
    for i, b in ipairs(cases) do
      srv:reset()
      srv:script{ b, b }
      fails("case " .. i, c.get_transient_token, c)
    end
    srv:script{ { status = 200, body = '{"MediaContainer":{"Device":{"accessToken":"' .. TOKEN
                  .. '","Connection":"' .. TOKEN .. '"}}}', content_type = "application/json",
                  headers = echo_headers } }
    local ok, res = pcall(c.get_source_connection_information, c, "server://x")
    if ok then keep("tostring(response)", tostring(res)) else keep("source error", res) end
    c:close()
  end)

  it("transport faults", function()
    local c = client()
    for i, b in ipairs({ { delay = 3 }, { truncate = true }, { truncate = true, chunked = true },
                         { garbage = true }, { close = true }, { big = 5000 },
                         { big = 5000, chunked = true }, { nested = 100000 },
                         { drip = true, interval = 0.3, body = TOKEN } }) do
      srv:reset()
      srv:script{ b, b }
      local cc = b.big and client{ max_response_bytes = 1000 } or c
      fails("fault " .. i, cc.get_transient_token, cc)
    end
    local refused = client{ server_url = "http://127.0.0.1:" .. fake.free_port() }
    fails("refused", refused.get_transient_token, refused)
    refused:close()
    -- An unresolvable name (reason resolve) is checked for the token in
    -- faults_spec, inside a network namespace: no DNS query leaves the machine.
    c:close()
  end)

  it("a wrong token and successful calls", function()
    local wrong = client{ token = DEVICE_TOKEN }
    fails("wrong token", wrong.get_transient_token, wrong)
    local c = client()
    local res = c:get_transient_token()
    keep("tostring(token response)", tostring(res))
    res = c:get_source_connection_information("server://abc")
    keep("tostring(source response)", tostring(res))
    res = c:request{ path = "/identity", query = { a = "b" } }
    keep("tostring(identity response)", tostring(res))
    keep("identity response", res)
    -- the request log shows the token only in the header
    for _, req in ipairs(srv:log()) do
      keep("request line", req.method .. " " .. req.path .. "?" .. req.query)
      for k, v in pairs(req.headers) do
        if k ~= "x-plex-token" then keep("request header " .. k, v) end
      end
    end
    c:close()
    fails("closed client", c.get_transient_token, c)
  end)

  it("bad input carrying the token", function()
    local bad = {
      { token = TOKEN .. "\r\n" }, { token = TOKEN .. "\0" }, { token = "\n" .. TOKEN },
      { token = TOKEN, timeout = -1 }, { token = TOKEN, tokn = TOKEN },
      { token = TOKEN, [TOKEN] = 1 }, { token = TOKEN, retries = { [TOKEN] = 1 } },
      { token = TOKEN, hooks = { [TOKEN] = print } },
      { token = TOKEN, server_url = "http://127.0.0.1:1/?" .. TOKEN },
    }
    for i, o in ipairs(bad) do
      if o.server_url == nil then o.server_url = srv.url end
      fails("bad option " .. i, plexauth.new, o)
    end
    local c = client{ hooks = { before_request = function(ctx, req)
      keep("hook ctx", ctx)
      keep("hook req url", req.url)
      req.headers["X-Plex-Token"] = TOKEN .. "\r\nX: y"
    end } }
    fails("hook header", c.get_transient_token, c)
    c:close()
    c = client{ hooks = { before_request = function(_, req) req.headers["X-" .. TOKEN .. " "] = "v" end } }
    fails("hook header name", c.get_transient_token, c)
    c:close()
  end)

  it("hook errors reach the caller unchanged", function()
    local c = client{ hooks = { after_error = function(ctx, _, err)
      keep("after_error ctx", ctx)
      keep("after_error err", err)
      error("hook failed", 0)
    end } }
    srv:script{ { status = 500 } }
    local ok, err = pcall(c.get_transient_token, c)
    assert.is_false(ok)
    assert.equal("hook failed", err)
    keep("hook error", err)
    c:close()
  end)

  it("connect_device failures", function()
    local c = client()
    local dead = fake.free_port()
    local dev = { access_token = DEVICE_TOKEN, connections = {
      { uri = "http://127.0.0.1:" .. dead, protocol = "http", address = "127.0.0.1", port = dead,
        ["local"] = true, relay = false },
      { uri = srv.url, protocol = "http", address = "127.0.0.1", port = srv.port,
        ["local"] = true, relay = false },
    } }
    srv:script{ { status = 500, body = TOKEN .. " " .. DEVICE_TOKEN, headers = { ["X-Echo"] = TOKEN } } }
    local err = fails("connect_device", c.connect_device, c, dev, { timeout = 1 })
    assert.equal(2, #err.failures)
    -- a successful connection: the new client's tostring
    local nc, chosen = c:connect_device(dev, { timeout = 1 })
    keep("tostring(connected client)", tostring(nc))
    keep("chosen", chosen.uri)
    nc:close()
    c:close()
  end)

  it("the command line", function()
    local LUA = "lua" .. string.match(_VERSION, "%d+%.%d+")
    local function run(args)
      local errfile = os.tmpname()
      local cmd = string.format("env -u PLEX_URL PLEX_TOKEN=%s LUA_PATH='%s' LUA_CPATH='%s' %s bin/plexauth %s 2>%s",
        TOKEN, package.path, package.cpath, LUA, args, errfile)
      local p = assert(io.popen(cmd))
      local out = p:read("*a")
      p:close()
      local f = io.open(errfile, "rb")
      local err = f and f:read("*a") or ""
      if f then f:close() end
      os.remove(errfile)
      keep("cli stdout " .. args, out)
      keep("cli stderr " .. args, err)
      return out, err
    end
    local base = "--server " .. srv.url .. " --timeout 1 "
    srv:script{ { status = 500, body = TOKEN, headers = { ["X-Echo"] = TOKEN } } }
    local _, err = run(base .. "token")
    assert.is_true(#err > 0)
    srv:script{ { status = 401, json = true } }
    run(base .. "token")
    srv:script{ { garbage = true } }
    run(base .. "token")
    srv:script{ { body = TOKEN, content_type = "text/plain" } }
    run(base .. "token")
    run(base .. "source nonsense")
    run("--server http://127.0.0.1:" .. fake.free_port() .. " token")
  end)
end)
