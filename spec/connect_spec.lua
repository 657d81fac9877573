-- plexauth.preferred_connections and client:connect_device against fake PMSs,
-- over real TCP and TLS on loopback (127.0.0.1 and ::1 only).
local plexauth = require("plexauth")
local core = require("plexauth.core")
local errors = plexauth.errors
local socket = require("socket")
local fake = require("spec.support.fake")
-- A probe's timeout where only correctness is checked: TLS handshakes under
-- valgrind (PLEXAUTH_SPEC_SLACK=5) can outlast 2 s.
local PROBE = 2 * (tonumber(os.getenv("PLEXAUTH_SPEC_SLACK")) or 1)
local util = require("spec.support.util")
local certs = require("spec.support.certs")

local DEVICE_TOKEN = "device-access-token-7f3a9c"
local ADMIN_TOKEN = "admin-token-51be20"

local q = util.q

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = deep_copy(x) end
  return t
end

-- Every string reachable from `v` (keys and values, metatables not followed).
local function strings_in(v, out, seen)
  out, seen = out or {}, seen or {}
  if type(v) == "string" then
    out[#out + 1] = v
  elseif type(v) == "table" and not seen[v] then
    seen[v] = true
    for k, x in pairs(v) do
      strings_in(k, out, seen)
      strings_in(x, out, seen)
    end
  end
  return out
end

local function assert_no_secret(value, secrets)
  for _, s in ipairs(strings_in(value)) do
    for _, secret in ipairs(secrets) do
      assert.is_nil(string.find(s, secret, 1, true), "a secret in: " .. s)
    end
  end
end

local function conn(protocol, host, port, kind)
  local h = string.find(host, ":", 1, true) and "[" .. host .. "]" or host
  return { protocol = protocol, address = host, port = port,
           uri = protocol .. "://" .. h .. ":" .. port,
           ["local"] = kind == "local", relay = kind == "relay" }
end

local function device(conns)
  return { name = "Test PMS", client_identifier = "test-pms", access_token = DEVICE_TOKEN,
           connections = conns }
end

local function count(log, path)
  local n = 0
  for _, r in ipairs(log) do
    if r.path == path then n = n + 1 end
  end
  return n
end

local raises = util.raises

-- A TCP listener on 127.0.0.1 with a full accept queue, never accepting: the
-- kernel drops further SYNs, so a connect to it neither succeeds nor fails.
local function blackhole()
  local l = assert(socket.bind("127.0.0.1", 0, 0))
  local _, port = l:getsockname()
  local fillers = {}
  for i = 1, 4 do
    local s = assert(socket.tcp())
    s:settimeout(0)
    s:connect("127.0.0.1", port)
    fillers[i] = s
  end
  socket.sleep(0.1)
  return {
    port = tonumber(port),
    close = function()
      for _, s in ipairs(fillers) do s:close() end
      l:close()
    end,
  }
end

describe("plexauth.preferred_connections", function()
  local d = device({
    conn("http", "127.0.0.1", 1, "relay"),     -- 1
    conn("http", "127.0.0.1", 2, "remote"),    -- 2
    conn("https", "127.0.0.1", 3, "relay"),    -- 3
    conn("http", "127.0.0.1", 4, "local"),     -- 4
    conn("https", "127.0.0.1", 5, "remote"),   -- 5
    conn("http", "127.0.0.1", 6, "local"),     -- 6
    conn("https", "127.0.0.1", 7, "local"),    -- 7
    conn("http", "127.0.0.1", 8, "remote"),    -- 8
    conn("https", "127.0.0.1", 9, "local"),    -- 9
  })

  local function ports(list)
    local t = {}
    for i, c in ipairs(list) do t[i] = c.port end
    return t
  end

  it("orders local, remote, relay; https before http; otherwise stable", function()
    local before = deep_copy(d)
    local list = plexauth.preferred_connections(d)
    assert.same({ 7, 9, 4, 6, 5, 2, 8, 3, 1 }, ports(list))
    assert.same(before, d)              -- device unchanged
    assert.are_not.equal(d.connections, list) -- a new list
    assert.equal(d.connections[7], list[1])   -- of the device's connections
  end)

  it("drops relays with allow_relay = false, keeps them otherwise", function()
    assert.same({ 7, 9, 4, 6, 5, 2, 8 }, ports(plexauth.preferred_connections(d, { allow_relay = false })))
    assert.same({ 7, 9, 4, 6, 5, 2, 8, 3, 1 }, ports(plexauth.preferred_connections(d, { allow_relay = true })))
    assert.same({ 7, 9, 4, 6, 5, 2, 8, 3, 1 }, ports(plexauth.preferred_connections(d, {})))
  end)

  it("is stable for many equal connections, and handles an empty device", function()
    local many = {}
    for i = 1, 50 do many[i] = conn(i % 2 == 0 and "https" or "http", "127.0.0.1", i, "remote") end
    local list = plexauth.preferred_connections(device(many))
    local want = {}
    for i = 2, 50, 2 do want[#want + 1] = i end
    for i = 1, 49, 2 do want[#want + 1] = i end
    assert.same(want, ports(list))
    assert.same({}, plexauth.preferred_connections(device({})))
  end)
end)

describe("client:connect_device", function()
  local srv_a, srv_b, relay, admin, hole, client

  setup(function()
    srv_a = fake.start{ machine_id = "server-a", token = DEVICE_TOKEN }
    srv_b = fake.start{ machine_id = "server-b", token = DEVICE_TOKEN }
    relay = fake.start{ machine_id = "relay", token = DEVICE_TOKEN }
    admin = fake.start{ machine_id = "admin", token = ADMIN_TOKEN }
    hole = blackhole()
    client = plexauth.new{ server_url = admin.url, token = ADMIN_TOKEN,
                           client_identifier = "connect-spec", product = "plexauth-spec",
                           device_name = "spec runner", retries = false }
  end)

  teardown(function()
    if client then client:close() end
    if hole then hole.close() end
    fake.stop_all()
  end)

  before_each(function()
    srv_a:reset(); srv_b:reset(); relay:reset(); admin:reset()
  end)

  it("uses a listener whose connects hang (the dead connection of these tests)", function()
    local s = assert(socket.tcp())
    s:settimeout(0.5)
    local ok, err = s:connect("127.0.0.1", hole.port)
    s:close()
    assert.is_nil(ok, "connect to the full-backlog listener completed")
    assert.equal("timeout", err)
  end)

  it("returns the preferred working connection, after about one probe timeout", function()
    local closed = fake.free_port()
    local d = device({
      conn("http", "127.0.0.1", relay.port, "relay"),
      conn("http", "127.0.0.1", srv_b.port, "remote"),
      conn("http", "127.0.0.1", closed, "local"),
      conn("http", "127.0.0.1", hole.port, "local"),
      conn("http", "127.0.0.1", srv_a.port, "local"),
    })
    local before = deep_copy(d)
    -- The preferred server answers last: the choice is by preference, not speed.
    srv_a:script{ { delay = 0.3 } }
    local t0 = core.now()
    local c, chosen = client:connect_device(d, { timeout = 1 })
    local elapsed = core.now() - t0
    assert.is_true(elapsed < 2, "connect_device took " .. elapsed .. " s with timeout = 1")
    assert.equal(d.connections[5], chosen)
    assert.same(before, d)
    assert.equal(srv_a.url, c.base)

    -- Every live connection was probed once, without any token.
    for _, srv in ipairs({ srv_a, srv_b, relay }) do
      local log = srv:log()
      assert.equal(1, #log)
      assert.equal("/identity", log[1].path)
      assert.is_nil(log[1].headers["x-plex-token"])
      assert.equal("connect-spec", log[1].headers["x-plex-client-identifier"])
    end
    assert.equal(0, #admin:log())

    -- The new client talks to server A with the device's token.
    local id = c:request{ path = "/identity" }
    assert.equal("server-a", id.object.MediaContainer.machineIdentifier)
    assert.is_string(c:get_transient_token().token)
    local log = srv_a:log()
    assert.equal(3, #log)
    assert.equal(DEVICE_TOKEN, log[3].headers["x-plex-token"])
    assert.equal("/security/token", log[3].path)
    c:close()
  end)

  it("stops probing once the preferred connection answered and none before it is pending", function()
    local d = device({
      conn("http", "127.0.0.1", hole.port, "remote"),
      conn("http", "127.0.0.1", srv_a.port, "local"),
    })
    local t0 = core.now()
    local c, chosen = client:connect_device(d, { timeout = 3 })
    local elapsed = core.now() - t0
    assert.equal(srv_a.port, chosen.port)
    assert.is_true(elapsed < 1.5, "waited " .. elapsed .. " s for a connection that cannot win")
    c:close()
  end)

  it("probes in parallel: five hanging connections take one timeout, not five", function()
    local conns = {}
    for i = 1, 5 do conns[i] = conn("http", "127.0.0.1", hole.port, i < 5 and "remote" or "local") end
    conns[6] = conn("http", "127.0.0.1", srv_b.port, "relay")
    local t0 = core.now()
    local c, chosen = client:connect_device(device(conns), { timeout = 1 })
    local elapsed = core.now() - t0
    assert.is_true(elapsed < 2, "took " .. elapsed .. " s")
    assert.equal(srv_b.port, chosen.port)
    c:close()
  end)

  it("raises TransportError connect with failures in preference order when none answers", function()
    local closed = fake.free_port()
    -- Server B answers 503 with both tokens in its body; it must not leak.
    srv_b:script{ { status = 503, body = "no " .. DEVICE_TOKEN .. " " .. ADMIN_TOKEN,
                    headers = { ["X-Echo"] = DEVICE_TOKEN .. "," .. ADMIN_TOKEN } } }
    local d = device({
      conn("http", "127.0.0.1", closed, "relay"),
      conn("http", "127.0.0.1", srv_b.port, "remote"),
      conn("http", "127.0.0.1", hole.port, "local"),
      conn("http", "127.0.0.1", closed, "local"),
    })
    local t0 = core.now()
    local e = raises(errors.TransportError, function() client:connect_device(d, { timeout = 1 }) end)
    local elapsed = core.now() - t0
    assert.is_true(elapsed < 2, "took " .. elapsed .. " s")
    assert.equal("connect", e.reason)
    assert.is_number(e.curl_code)
    assert.equal(4, #e.failures)
    local want = { d.connections[3], d.connections[4], d.connections[2], d.connections[1] }
    for i, f in ipairs(e.failures) do
      assert.equal(want[i].uri, f.uri)
      assert.is_true(errors.is(f.error, errors.Error), "failure " .. i .. " is no error object")
    end
    assert.is_true(errors.is(e.failures[1].error, errors.TransportError))
    assert.equal("connect", e.failures[1].error.reason)  -- connect timed out
    assert.equal("connect", e.failures[2].error.reason)  -- refused
    assert.equal(7, e.failures[2].error.curl_code)
    assert.is_true(errors.is(e.failures[3].error, errors.APIError))
    assert.equal(503, e.failures[3].error.status_code)
    assert.equal("<redacted>,<redacted>", e.failures[3].error.headers["x-echo"])
    assert.equal("connect", e.failures[4].error.reason)
    assert_no_secret(e, { DEVICE_TOKEN, ADMIN_TOKEN })
    assert.is_nil(string.find(tostring(e), DEVICE_TOKEN, 1, true))
    for _, f in ipairs(e.failures) do
      assert.is_nil(string.find(tostring(f.error), DEVICE_TOKEN, 1, true))
    end
  end)

  it("skips relays with allow_relay = false", function()
    local closed = fake.free_port()
    local d = device({
      conn("http", "127.0.0.1", closed, "local"),
      conn("http", "127.0.0.1", relay.port, "relay"),
    })
    local e = raises(errors.TransportError, function()
      client:connect_device(d, { timeout = 1, allow_relay = false })
    end)
    assert.equal(1, #e.failures)
    assert.equal(d.connections[1].uri, e.failures[1].uri)
    assert.equal(0, #relay:log())
    -- Allowed, the relay is the one that answers.
    local c, chosen = client:connect_device(d, { timeout = 1 })
    assert.equal(d.connections[2], chosen)
    assert.equal("relay", c:request{ path = "/identity" }.object.MediaContainer.machineIdentifier)
    c:close()
  end)

  it("fails without probing when there is no connection", function()
    local e = raises(errors.TransportError, function() client:connect_device(device({})) end)
    assert.equal("connect", e.reason)
    assert.same({}, e.failures)
  end)

  it("checks its arguments before any probe", function()
    local ok_conn = conn("http", "127.0.0.1", srv_a.port, "local")
    for _, call in ipairs({
      function() client:connect_device(nil) end,
      function() client:connect_device({}) end,
      function() client:connect_device(device({ ok_conn }), 3) end,
      function() client:connect_device(device({ ok_conn }), { allow_relay = "no" }) end,
      function() client:connect_device(device({ ok_conn }), { timeout = 0 }) end,
      function() client:connect_device(device({ ok_conn }), { nonsense = 1 }) end,
      function() client:connect_device(device({ ok_conn, { protocol = "http" } })) end,
      function() client:connect_device(device({ ok_conn, conn("ftp", "127.0.0.1", 21, "local") })) end,
    }) do
      raises(errors.ArgumentError, call)
    end
    assert.equal(0, #srv_a:log())
  end)

  it("gives the new client this client's headers and retries; opts override", function()
    local parent = plexauth.new{ server_url = admin.url, token = ADMIN_TOKEN,
                                 client_identifier = "parent-id", product = "plexauth-spec",
                                 device_name = "parent device",
                                 retries = { max_attempts = 2, initial_interval = 0.01,
                                             max_interval = 0.01 } }
    local d = device({ conn("http", "127.0.0.1", srv_b.port, "local") })
    local c = parent:connect_device(d, { timeout = 2 })
    srv_b:reset()
    srv_b:script{ { status = 503 } }
    assert.is_string(c:get_transient_token().token) -- retried once
    local log = srv_b:log()
    assert.equal(2, #log)
    assert.equal("parent-id", log[2].headers["x-plex-client-identifier"])
    assert.equal("plexauth-spec", log[2].headers["x-plex-product"])
    assert.equal("parent device", log[2].headers["x-plex-device-name"])
    assert.equal(DEVICE_TOKEN, log[2].headers["x-plex-token"])
    c:close()

    c = parent:connect_device(d, { timeout = 2, retries = false, client_identifier = "other-id",
                                   token = "explicit-token" })
    srv_b:reset()
    srv_b:script{ { status = 503 } }
    local e = raises(errors.APIError, function() c:get_transient_token() end)
    assert.equal(503, e.status_code)
    log = srv_b:log()
    assert.equal(1, #log)
    assert.equal("other-id", log[1].headers["x-plex-client-identifier"])
    assert.equal("plexauth-spec", log[1].headers["x-plex-product"])
    assert.equal("explicit-token", log[1].headers["x-plex-token"])
    assert.equal(2, c._settings.transport.timeout) -- opts.timeout is the new client's timeout
    c:close()
    parent:close()
  end)

  it("uses this client's resolve entries for probes and the new client", function()
    local host = "pms.invalid" -- resolvable only through the entry
    local parent = plexauth.new{ server_url = admin.url, retries = false,
                                 resolve = { host .. ":" .. srv_b.port .. ":127.0.0.1" } }
    local d = device({ { protocol = "http", address = "127.0.0.1", port = srv_b.port,
                         uri = "http://" .. host .. ":" .. srv_b.port, ["local"] = true,
                         relay = false } })
    local c = parent:connect_device(d, { timeout = 2 })
    assert.equal(200, c:request{ path = "/identity" }.status_code)
    local log = srv_b:log()
    assert.equal(2, #log)
    assert.equal(host .. ":" .. srv_b.port, log[2].headers.host)
    c:close()
    parent:close()
  end)

  describe("with TLS and plex.direct names", function()
    local hash, pki, tls4, tls6

    local function pd(protocol, addr_label, port, kind)
      return { protocol = protocol, address = "127.0.0.1", port = port,
               uri = protocol .. "://" .. addr_label .. "." .. hash .. ".plex.direct:" .. port,
               ["local"] = kind == "local", relay = kind == "relay" }
    end

    setup(function()
      hash = certs.random_hex(16)
      pki = certs.make{ "*." .. hash .. ".plex.direct" }
      tls4 = fake.start{ machine_id = "tls-v4", token = DEVICE_TOKEN,
                         tls_cert = pki.cert, tls_key = pki.key }
      local ok, s = pcall(fake.start, { host = "::1", machine_id = "tls-v6", token = DEVICE_TOKEN,
                                        tls_cert = pki.cert, tls_key = pki.key })
      tls6 = ok and s or nil
    end)

    teardown(function()
      if tls4 then tls4:stop() end
      if tls6 then tls6:stop() end
      if pki then pki:cleanup() end
    end)

    it("prefers https, verified with this client's ca_file, through the plex.direct pin", function()
      local parent = plexauth.new{ server_url = admin.url, ca_file = pki.ca, retries = false }
      local d = device({
        conn("http", "127.0.0.1", srv_a.port, "local"),
        pd("https", "127-0-0-1", tls4.port, "local"),
      })
      local c, chosen = parent:connect_device(d, { timeout = PROBE })
      assert.equal(d.connections[2], chosen)
      assert.equal("tls-v4", c:request{ path = "/identity" }.object.MediaContainer.machineIdentifier)
      assert.is_string(c:get_transient_token().token)
      c:close()
      -- Without the test CA the https probe fails verification and http wins;
      -- verify_tls = false in opts overrides the parent's verification.
      local strict = plexauth.new{ server_url = admin.url, retries = false }
      local c2, chosen2 = strict:connect_device(d, { timeout = PROBE })
      assert.equal(d.connections[1], chosen2)
      c2:close()
      local e = raises(errors.TransportError, function()
        strict:connect_device(device({ d.connections[2] }), { timeout = PROBE })
      end)
      assert.equal("tls", e.failures[1].error.reason)
      local c3, chosen3 = strict:connect_device(d, { timeout = PROBE, verify_tls = false })
      assert.equal(d.connections[2], chosen3)
      assert.equal(200, c3:request{ path = "/identity" }.status_code)
      c3:close()
      strict:close()
      parent:close()
    end)

    it("reaches an IPv6 plex.direct connection (0--1)", function()
      if not tls6 then
        pending("no IPv6 loopback here (the fake PMS cannot listen on ::1)")
        return
      end
      local parent = plexauth.new{ server_url = admin.url, ca_file = pki.ca, retries = false }
      local d = device({
        pd("https", "0--1", fake.free_port("::1"), "local"),
        pd("https", "0--1", tls6.port, "remote"),
        conn("http", "127.0.0.1", srv_a.port, "relay"),
      })
      local c, chosen = parent:connect_device(d, { timeout = 2 })
      assert.equal(d.connections[2], chosen)
      assert.equal("tls-v6", c:request{ path = "/identity" }.object.MediaContainer.machineIdentifier)
      c:close()
      parent:close()
    end)

    it("inherits plex_direct = false (the name then goes to DNS: run isolated)", function()
      if not util.have_netns() then
        pending("cannot make a network namespace (unshare -n); without one this test "
                .. "would send a DNS query off the machine")
        return
      end
      local out = util.run_isolated(pki.dir, [[
        local hash, cert, key, ca = ...
        local plexauth = require("plexauth")
        local fake = require("spec.support.fake")
        local srv = fake.start{ tls_cert = cert, tls_key = key }
        local uri = "https://127-0-0-1." .. hash .. ".plex.direct:" .. srv.port
        local d = { access_token = "t", connections = {
          { protocol = "https", uri = uri, ["local"] = true, relay = false } } }
        for _, on in ipairs({ true, false }) do
          local parent = plexauth.new{ server_url = "http://127.0.0.1:1", ca_file = ca,
                                       plex_direct = on, retries = false }
          local ok, r = pcall(parent.connect_device, parent, d, { timeout = 2 })
          print(tostring(on) .. ": " .. (ok and "ok" or (r.reason .. " "
            .. tostring(r.failures and r.failures[1] and r.failures[1].error.reason))))
        end
        -- And opts override: the parent off, plex_direct = true in opts.
        local parent = plexauth.new{ server_url = "http://127.0.0.1:1", ca_file = ca,
                                     plex_direct = false, retries = false }
        local ok, c = pcall(parent.connect_device, parent, d, { timeout = 2, plex_direct = true })
        print("override: " .. (ok and c:request{ path = "/identity" }.status_code or tostring(c)))
        fake.stop_all()
      ]], hash, pki.cert, pki.key, pki.ca)
      assert.is_truthy(string.find(out, "true: ok\n", 1, true), out)
      assert.is_truthy(string.find(out, "false: connect resolve\n", 1, true), out)
      assert.is_truthy(string.find(out, "override: 200\n", 1, true), out)
    end)
  end)
end)

describe("bin/plexauth connect", function()
  local admin, srv_a, srv_b, hole

  -- Runs the CLI with `args` and env table `env`; returns stdout, stderr, status.
  local run = util.run_cli

  -- Scripts the admin server's next answer: a device with these connections.
  local function serve_device(conns)
    local list = {}
    for i, c in ipairs(conns) do
      list[i] = { protocol = c.protocol, address = c.address, port = c.port, uri = c.uri,
                  ["local"] = c["local"] and 1 or 0, relay = c.relay and 1 or 0 }
    end
    admin:script{ { device_json = { size = 1, Device = { { name = "Test PMS",
      clientIdentifier = "test-pms", accessToken = DEVICE_TOKEN, Connection = list } } } } }
  end

  setup(function()
    admin = fake.start{ machine_id = "admin", token = ADMIN_TOKEN }
    srv_a = fake.start{ machine_id = "server-a", token = DEVICE_TOKEN }
    srv_b = fake.start{ machine_id = "server-b", token = DEVICE_TOKEN }
    hole = blackhole()
  end)

  teardown(function()
    if hole then hole.close() end
    fake.stop_all()
  end)

  before_each(function()
    admin:reset(); srv_a:reset(); srv_b:reset()
  end)

  it("prints the chosen URI, then the device's access token", function()
    local d = device({
      conn("http", "127.0.0.1", srv_b.port, "remote"),
      conn("http", "127.0.0.1", hole.port, "local"),
      conn("http", "127.0.0.1", srv_a.port, "local"),
    })
    serve_device(d.connections)
    local t0 = core.now()
    local out, err, status = run("--server " .. q(admin.url) .. " connect server://test-pms --timeout 1",
                                 { PLEX_TOKEN = ADMIN_TOKEN })
    local elapsed = core.now() - t0
    assert.equal(0, status, err)
    assert.equal(d.connections[3].uri .. "\n" .. DEVICE_TOKEN .. "\n", out)
    assert.is_true(elapsed < 3, "took " .. elapsed .. " s") -- 1 s probes + process start
    local log = admin:log()
    assert.equal("/security/resources", log[1].path)
    assert.equal(1, count(srv_a:log(), "/identity"))
    assert.equal(1, count(srv_b:log(), "/identity"))
  end)

  it("prints JSON with --json", function()
    local d = device({ conn("http", "127.0.0.1", srv_a.port, "local") })
    serve_device(d.connections)
    local out, err, status = run("--json connect server://test-pms --server " .. q(admin.url),
                                 { PLEX_TOKEN = ADMIN_TOKEN })
    assert.equal(0, status, err)
    local obj = require("cjson").decode(out)
    assert.same({ uri = d.connections[1].uri, access_token = DEVICE_TOKEN }, obj)
  end)

  it("exits 5 when no connection answers, without printing a token", function()
    local d = device({
      conn("http", "127.0.0.1", fake.free_port(), "local"),
      conn("http", "127.0.0.1", hole.port, "remote"),
    })
    serve_device(d.connections)
    local out, err, status = run("--server " .. q(admin.url) .. " --timeout 1 connect server://test-pms",
                                 { PLEX_TOKEN = ADMIN_TOKEN })
    assert.equal(5, status)
    assert.equal("", out)
    assert.is_truthy(string.find(err, "transport", 1, true), err)
    -- one line per connection tried, with why it failed
    assert.is_truthy(string.find(err, "\n  " .. d.connections[1].uri .. ": plexauth: transport: ", 1, true), err)
    assert.is_truthy(string.find(err, "\n  " .. d.connections[2].uri .. ": plexauth: transport: ", 1, true), err)
    assert.is_nil(string.find(err, DEVICE_TOKEN, 1, true))
    assert.is_nil(string.find(err, ADMIN_TOKEN, 1, true))
  end)

  it("exits 2 without a SOURCE", function()
    local _, _, status = run("--server " .. q(admin.url) .. " connect", { PLEX_TOKEN = ADMIN_TOKEN })
    assert.equal(2, status)
    assert.equal(0, #admin:log())
  end)
end)
