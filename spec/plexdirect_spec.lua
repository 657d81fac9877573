-- The `resolve` option and plex.direct pinning, over real TCP and TLS on loopback.
-- Names here are in no DNS; where a test needs a name to go to the resolver, it
-- runs in a fresh network namespace (no route anywhere), so no query leaves.
local plexauth = require("plexauth")
local url = require("plexauth.url")
local options = require("plexauth.options")
local errors = plexauth.errors
local fake = require("spec.support.fake")
local certs = require("spec.support.certs")
local util = require("spec.support.util")

local function raises_argument(pattern, f)
  local ok, e = pcall(f)
  assert.is_false(ok, "expected an ArgumentError")
  assert.is_true(errors.is(e, errors.ArgumentError), "not an ArgumentError: " .. tostring(e))
  if pattern then
    assert.is_truthy(string.find(e.message, pattern), "message: " .. tostring(e.message))
  end
  return e
end

local function transport_error(f)
  local ok, e = pcall(f)
  assert.is_false(ok, "expected a TransportError")
  assert.is_true(errors.is(e, errors.TransportError), "not a TransportError: " .. tostring(e))
  return e
end

local have_netns, run_isolated = util.have_netns, util.run_isolated

describe("resolve option", function()
  it("accepts host:port:address with IPv4 and IPv6 literals", function()
    for _, e in ipairs({
      "example.test:443:127.0.0.1", "example.test:1:10.0.2.123",
      "example.test:65535:[::1]", "example.test:80:::1",
      "x.plex.direct:32400:[2001:db8::1]", "h:8080:[::ffff:127.0.0.1]",
    }) do
      local c = plexauth.new{ resolve = { e } }
      c:close()
      assert.same({ e }, options.check{ resolve = { e } }.transport.resolve)
    end
  end)

  it("rejects bad entries with an ArgumentError naming resolve", function()
    for _, e in ipairs({
      "example.test:443", "example.test:443:", ":443:127.0.0.1", "example.test::127.0.0.1",
      "example.test:0:127.0.0.1", "example.test:65536:127.0.0.1",
      "example.test:https:127.0.0.1", "example.test:443:localhost",
      "example.test:443:256.0.0.1", "example.test:443:127.0.0", "example.test:443:127.000.0.1",
      "example.test:443:1:2:3", "example.test:443:[::1", "example.test:443:::1::2",
      "example.test:443:127.0.0.1,127.0.0.2", "-example.test:443",
      "exa mple:443:127.0.0.1", "example.test:443:127.0.0.1\n",
    }) do
      raises_argument("resolve", function() plexauth.new{ resolve = { e } } end)
    end
    raises_argument("resolve", function() plexauth.new{ resolve = "h:1:127.0.0.1" } end)
    raises_argument("resolve", function() plexauth.new{ resolve = { 42 } } end)
    raises_argument("resolve", function() plexauth.new{ resolve = { h = "h:1:127.0.0.1" } } end)
  end)

  describe("against the fake PMS", function()
    local srv
    setup(function() srv = fake.start{} end)
    teardown(function() fake.stop_all() end)

    it("sends a pinned name to its address with no DNS", function()
      -- `.invalid` never resolves (RFC 6761): success proves the pin was used.
      local host = "pinned.invalid"
      local c = plexauth.new{ server_url = "http://" .. host .. ":" .. srv.port,
                              resolve = { host .. ":" .. srv.port .. ":127.0.0.1" },
                              token = srv.token, retries = false }
      assert.is_string(c:get_transient_token().token)
      local log = srv:log()
      assert.equal(host .. ":" .. srv.port, log[#log].headers.host)
      c:close()
    end)
  end)
end)

describe("plex.direct names", function()
  local hash, name4, name6, pki, srv

  setup(function()
    hash = certs.random_hex(16)
    name4 = "127-0-0-1." .. hash .. ".plex.direct"
    name6 = "0--1." .. hash .. ".plex.direct"
    pki = certs.make{ name4, name6 }
    srv = fake.start{ tls_cert = pki.cert, tls_key = pki.key }
  end)

  teardown(function()
    fake.stop_all()
    if pki then pki:cleanup() end
  end)

  before_each(function() srv:reset() end)

  it("decodes the address in the first label", function()
    assert.equal("127.0.0.1", url.plex_direct_address(name4))
    assert.equal("10.0.2.123", url.plex_direct_address("10-0-2-123." .. hash .. ".plex.direct"))
    assert.equal("127.0.0.1", url.plex_direct_address(string.upper(name4)))
    assert.equal("0::1", url.plex_direct_address(name6))
    assert.equal("2001:db8:0:0:0:0:0:1",
                 url.plex_direct_address("2001-db8-0-0-0-0-0-1." .. hash .. ".plex.direct"))
    assert.equal("2001:db8::1", url.plex_direct_address("2001-db8--1." .. hash .. ".plex.direct"))
  end)

  it("leaves to DNS a first label that encodes no address, and other names", function()
    for _, h in ipairs({
      "www." .. hash .. ".plex.direct", "127-0-0." .. hash .. ".plex.direct",
      "256-0-0-1." .. hash .. ".plex.direct", "127-000-0-1." .. hash .. ".plex.direct",
      "1-2-3-4-5." .. hash .. ".plex.direct", "0---1." .. hash .. ".plex.direct",
      "g--1." .. hash .. ".plex.direct", "127-0-0-1.plex.direct",
      "127-0-0-1." .. hash .. ".plex.direct.example", "127-0-0-1." .. hash .. ".example",
      "a.127-0-0-1." .. hash .. ".plex.direct",
    }) do
      assert.is_nil(url.plex_direct_address(h), h)
      assert.is_nil(url.plex_direct_pin("https://" .. h .. ":32400"), h)
      assert.same({}, options.check{ server_url = "https://" .. h .. ":32400" }.transport.resolve)
    end
  end)

  it("pins the URL's host and port (default ports too), unless plex_direct = false", function()
    assert.same({ name4 .. ":32400:127.0.0.1" },
                options.check{ server_url = "https://" .. name4 .. ":32400" }.transport.resolve)
    assert.same({ name4 .. ":443:127.0.0.1" },
                options.check{ server_url = "https://" .. name4 .. "/plex" }.transport.resolve)
    assert.same({ name4 .. ":80:127.0.0.1" },
                options.check{ server_url = "http://" .. name4 }.transport.resolve)
    assert.same({ name6 .. ":32400:[0::1]" },
                options.check{ protocol = "https", ip = name6 }.transport.resolve)
    assert.same({}, options.check{ server_url = "https://" .. name4 .. ":32400",
                                   plex_direct = false }.transport.resolve)
    assert.same({ name4 .. ":32400:127.0.0.1", "a.test:1:127.0.0.1" },
                options.check{ server_url = "https://" .. name4 .. ":32400",
                               resolve = { "a.test:1:127.0.0.1" } }.transport.resolve)
    raises_argument("plex_direct", function() plexauth.new{ plex_direct = "yes" } end)
  end)

  it("connects to an IPv4 name with TLS verified against the plex.direct name", function()
    local c = plexauth.new{ server_url = "https://" .. name4 .. ":" .. srv.port,
                            ca_file = pki.ca, token = srv.token, retries = false }
    local res = c:get_transient_token()
    assert.is_string(res.token)
    local id = c:request{ path = "/identity" }
    assert.equal(200, id.status_code)
    assert.equal(srv.machine_id, id.object.MediaContainer.machineIdentifier)
    local log = srv:log()
    assert.equal(2, #log)
    assert.equal(name4 .. ":" .. srv.port, log[1].headers.host)
    c:close()
  end)

  it("still verifies the certificate: another CA, or a name it does not carry, fails", function()
    local other = certs.make{ name4 }
    local ok, err = pcall(function()
      local c = plexauth.new{ server_url = "https://" .. name4 .. ":" .. srv.port,
                              ca_file = other.ca, retries = false }
      local e = transport_error(function() c:request{ path = "/identity" } end)
      assert.equal("tls", e.reason)
      -- A name the certificate does not carry, pinned to the same server.
      local wrong = "127-0-0-1." .. certs.random_hex(16) .. ".plex.direct"
      c = plexauth.new{ server_url = "https://" .. wrong .. ":" .. srv.port,
                        ca_file = pki.ca, retries = false }
      e = transport_error(function() c:request{ path = "/identity" } end)
      assert.equal("tls", e.reason)
      -- Verification off accepts it: the pin itself worked.
      c = plexauth.new{ server_url = "https://" .. wrong .. ":" .. srv.port,
                        verify_tls = false, retries = false }
      assert.equal(200, c:request{ path = "/identity" }.status_code)
    end)
    other:cleanup()
    assert(ok, err)
  end)

  it("gives way to an explicit resolve entry for the same host and port", function()
    -- The name encodes 127.0.0.1; the entry sends it to 127.0.0.2, where nothing listens.
    local c = plexauth.new{ server_url = "https://" .. name4 .. ":" .. srv.port,
                            resolve = { name4 .. ":" .. srv.port .. ":127.0.0.2" },
                            ca_file = pki.ca, retries = false }
    local e = transport_error(function() c:request{ path = "/identity" } end)
    assert.equal("connect", e.reason)
    -- An entry for another port leaves the pin in force.
    c = plexauth.new{ server_url = "https://" .. name4 .. ":" .. srv.port,
                      resolve = { name4 .. ":" .. (srv.port == 1 and 2 or 1) .. ":127.0.0.2" },
                      ca_file = pki.ca, retries = false }
    assert.equal(200, c:request{ path = "/identity" }.status_code)
    assert.equal(1, #srv:log())
  end)

  it("connects to an IPv6 name (0--1 is ::1)", function()
    local ok6, srv6 = pcall(fake.start, { host = "::1", tls_cert = pki.cert, tls_key = pki.key })
    if not ok6 then
      pending("no IPv6 loopback here (the fake PMS cannot listen on ::1): " .. tostring(srv6))
      return
    end
    local c = plexauth.new{ server_url = "https://" .. name6 .. ":" .. srv6.port,
                            ca_file = pki.ca, token = srv6.token, retries = false }
    assert.is_string(c:get_transient_token().token)
    assert.equal(200, c:request{ path = "/identity", query = { a = 1 } }.status_code)
    assert.equal(2, #srv6:log())
    assert.equal(0, #srv:log()) -- the IPv4 server got nothing
    c:close()
    srv6:stop()
  end)

  it("without pinning the name goes to DNS and fails with reason resolve", function()
    if not have_netns() then
      pending("cannot make a network namespace (unshare -n); without one this test "
              .. "would send a DNS query off the machine")
      return
    end
    -- In the namespace: a fresh fake PMS with the same certificate, then the
    -- same client with plex_direct on, off, and a name whose label encodes nothing.
    local out = run_isolated(pki.dir, [[
      local name4, hash, cert, key, ca = ...
      local plexauth = require("plexauth")
      local fake = require("spec.support.fake")
      local srv = fake.start{ tls_cert = cert, tls_key = key }
      local function try(host, pd)
        local c = plexauth.new{ server_url = "https://" .. host .. ":" .. srv.port,
                                ca_file = ca, token = srv.token, retries = false,
                                plex_direct = pd }
        local ok, r = pcall(c.get_transient_token, c)
        c:close()
        if ok then return "ok " .. type(r.token) end
        return "error " .. tostring(r.kind) .. " " .. tostring(r.reason) .. " "
          .. tostring(r.curl_code) .. " " .. tostring(r.attempts)
      end
      print("on: " .. try(name4, true))
      print("off: " .. try(name4, false))
      print("word: " .. try("www." .. hash .. ".plex.direct", true))
      print("requests: " .. #srv:log())
      fake.stop_all()
    ]], name4, hash, pki.cert, pki.key, pki.ca)
    assert.is_truthy(string.find(out, "on: ok string\n", 1, true), out)
    assert.is_truthy(string.find(out, "off: error transport resolve 6 1\n", 1, true), out)
    assert.is_truthy(string.find(out, "word: error transport resolve 6 1\n", 1, true), out)
    assert.is_truthy(string.find(out, "requests: 1\n", 1, true), out)
  end)
end)
