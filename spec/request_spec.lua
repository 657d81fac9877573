-- The two operations and client:request: argument forms and validation,
-- URLs, query encoding and the headers the server receives.
local plexauth = require("plexauth")
local errors = plexauth.errors
local fake = require("spec.support.fake")
local util = require("spec.support.util")

local unpack = table.unpack or unpack

local raises = util.raises

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- Raw query string -> name -> value, decoding %XX only (what RFC 3986 producers send).
local function parse_query(q)
  local t, n = {}, 0
  for pair in q:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=(.*)$")
    t[unescape(k)] = unescape(v)
    n = n + 1
  end
  return t, n
end

describe("operations", function()
  local srv, c

  setup(function()
    srv = fake.start()
    c = plexauth.new{ server_url = srv.url, token = srv.token, retries = false }
  end)
  teardown(function()
    c:close()
    fake.stop_all()
  end)
  before_each(function() srv:reset() end)

  describe("get_transient_token", function()
    local forms = {
      ["()"] = {},
      ["('delegation')"] = { "delegation" },
      ["('delegation', 'all')"] = { "delegation", "all" },
      ["(nil, 'all')"] = { nil, "all", n = 2 },
      ["{}"] = { {} },
      ["{type=}"] = { { type = "delegation" } },
      ["{scope=}"] = { { scope = "all" } },
      ["{type=, scope=}"] = { { type = "delegation", scope = "all" } },
    }
    for name, args in pairs(forms) do
      it("accepts " .. name .. " and sends GET /security/token?type=delegation&scope=all", function()
        local res = c:get_transient_token(unpack(args, 1, args.n or #args))
        assert.equal(200, res.status_code)
        assert.is_string(res.token)
        assert.equal(res.object.MediaContainer.token, res.token)
        local log = srv:log()
        assert.equal(1, #log)
        assert.equal("GET", log[1].method)
        assert.equal("/security/token", log[1].path)
        local q, n = parse_query(log[1].query)
        assert.same({ type = "delegation", scope = "all" }, q)
        assert.equal(2, n)
      end)
    end

    local bad = {
      ["type 'other'"] = { "other" },
      ["type ''"] = { "" },
      ["type 1"] = { 1 },
      ["type true"] = { true },
      ["scope 'none'"] = { "delegation", "none" },
      ["scope 1"] = { "delegation", 1 },
      ["{type='x'}"] = { { type = "x" } },
      ["{scope='y'}"] = { { scope = "y" } },
      ["{type='delegation', scope='ALL'}"] = { { type = "delegation", scope = "ALL" } },
    }
    for name, args in pairs(bad) do
      it("raises ArgumentError for " .. name .. " before any request", function()
        local err = raises(errors.ArgumentError, c.get_transient_token, c, unpack(args))
        assert.equal("argument", err.kind)
        assert.equal(0, #srv:log())
      end)
    end
  end)

  describe("get_source_connection_information", function()
    it("accepts a positional source", function()
      local res = c:get_source_connection_information("server://abc123")
      assert.equal(200, res.status_code)
      assert.equal("server://abc123", res.object.MediaContainer.source)
      assert.is_table(res.device)
      local log = srv:log()
      assert.equal(1, #log)
      assert.equal("GET", log[1].method)
      assert.equal("/security/resources", log[1].path)
      assert.same({ source = "server://abc123" }, (parse_query(log[1].query)))
    end)

    it("accepts the table form {source=}", function()
      local res = c:get_source_connection_information{ source = "provider://tv.plex.provider.epg" }
      assert.equal("provider://tv.plex.provider.epg", res.object.MediaContainer.source)
      assert.equal("/security/resources", srv:log()[1].path)
    end)

    local sources = {
      "server://my server",
      "server://a&b=c",
      "server://x#frag",
      "server://a/b/c?d=e",
      "server://plus+sign and %20 percent",
      "server://caf\195\169 \226\156\147 \240\159\152\128",
      "provider://tv.plex.provider.vod",
      "server://';\"<>\\|`{}[]^~!$*(),:@",
    }
    for _, source in ipairs(sources) do
      it(("percent-encodes %q so the server decodes it back exactly"):format(source), function()
        local res = c:get_source_connection_information(source)
        assert.equal(source, res.object.MediaContainer.source)
        local raw = srv:log()[1].query
        assert.is_truthy(raw:match("^source=[%w%%%-%._~]*$"), raw)
        assert.equal(source, parse_query(raw).source)
      end)
    end

    local invalid = {
      ["nil"] = { n = 0 },
      ["''"] = { "" },
      ["'server'"] = { "server" },
      ["'server://'"] = { "server://" },
      ["'://abc'"] = { "://abc" },
      ["'abc123'"] = { "abc123" },
      ["42"] = { 42 },
      ["true"] = { true },
      ["{}"] = { {} },
      ["{source=''}"] = { { source = "" } },
      ["{source=7}"] = { { source = 7 } },
    }
    for name, args in pairs(invalid) do
      it("raises ArgumentError for source " .. name .. " before any request", function()
        raises(errors.ArgumentError, c.get_source_connection_information, c,
               unpack(args, 1, args.n or #args))
        assert.equal(0, #srv:log())
      end)
    end
  end)
end)

describe("request headers", function()
  local srv

  setup(function() srv = fake.start{ token = "tok-SECRET-123" } end)
  teardown(function() fake.stop_all() end)
  before_each(function() srv:reset() end)

  local identity = {
    client_identifier = { "X-Plex-Client-Identifier", "cid-0001" },
    product = { "X-Plex-Product", "Plex Web" },
    version = { "X-Plex-Version", "4.100.1" },
    platform = { "X-Plex-Platform", "Linux" },
    platform_version = { "X-Plex-Platform-Version", "6.1" },
    device = { "X-Plex-Device", "PC" },
    model = { "X-Plex-Model", "hosted" },
    device_vendor = { "X-Plex-Device-Vendor", "Acme" },
    device_name = { "X-Plex-Device-Name", "Living room" },
    marketplace = { "X-Plex-Marketplace", "googlePlay" },
  }

  local function all_calls(c)
    c:get_transient_token()
    c:get_source_connection_information("server://abc")
    c:request{ path = "/identity", query = { a = "1" } }
  end

  it("sends every X-Plex-* identity header, Accept and the token on every operation", function()
    local o = { server_url = srv.url, token = srv.token }
    for opt, pair in pairs(identity) do o[opt] = pair[2] end
    local c = plexauth.new(o)
    all_calls(c)
    c:close()
    local log = srv:log()
    assert.equal(3, #log)
    for _, r in ipairs(log) do
      for opt, pair in pairs(identity) do
        assert.equal(pair[2], r.headers[pair[1]:lower()], opt)
      end
      assert.equal("application/json", r.headers["accept"])
      assert.equal(srv.token, r.headers["x-plex-token"])
    end
  end)

  it("sends no identity header for an option not given, and no token without one", function()
    local c = plexauth.new{ server_url = srv.url, client_identifier = "only-this" }
    raises(errors.Unauthorized, c.get_transient_token, c)
    c:request{ path = "/identity" }
    c:close()
    for _, r in ipairs(srv:log()) do
      assert.equal("only-this", r.headers["x-plex-client-identifier"])
      assert.equal("application/json", r.headers["accept"])
      assert.is_nil(r.headers["x-plex-token"])
      for name in pairs(r.headers) do
        if name:match("^x%-plex%-") then assert.equal("x-plex-client-identifier", name) end
      end
    end
  end)

  it("sends the default User-Agent plexauth/X.Y.Z with the Lua and libcurl versions", function()
    local c = plexauth.new{ server_url = srv.url, token = srv.token }
    c:get_transient_token()
    c:close()
    local ua = srv:log()[1].headers["user-agent"]
    local version = plexauth._VERSION:match("(%d+%.%d+%.%d+)$")
    assert.equal(1, ua:find("plexauth/" .. version, 1, true), ua)
    local lua_version = type(jit) == "table" and jit.version or _VERSION
    assert.is_truthy(ua:find(lua_version, 1, true), ua)
    assert.is_truthy(ua:find(require("plexauth.core").curl_version, 1, true), ua)
    assert.is_truthy(ua:lower():find("curl", 1, true), ua)
  end)

  it("sends a custom user_agent", function()
    local c = plexauth.new{ server_url = srv.url, token = srv.token, user_agent = "my-app/2.0 (test)" }
    all_calls(c)
    c:close()
    for _, r in ipairs(srv:log()) do assert.equal("my-app/2.0 (test)", r.headers["user-agent"]) end
  end)

  it("sends the token only in X-Plex-Token: never in the URL, query or another header", function()
    local c = plexauth.new{ server_url = srv.url, token = srv.token, client_identifier = "cid" }
    all_calls(c)
    srv:script{ { status = 200, body = "{}", content_type = "application/json" } }
    c:request{ method = "POST", path = "/identity", query = { q = "x" } }
    c:close()
    local log = srv:log()
    assert.equal(4, #log)
    for _, r in ipairs(log) do
      assert.equal(srv.token, r.headers["x-plex-token"])
      assert.is_nil(r.path:find(srv.token, 1, true))
      assert.is_nil(r.query:find(srv.token, 1, true))
      assert.is_nil(r.query:lower():find("token", 1, true))
      assert.is_nil(r.body:find(srv.token, 1, true))
      for name, value in pairs(r.headers) do
        if name ~= "x-plex-token" then assert.is_nil(value:find(srv.token, 1, true), name) end
      end
    end
  end)
end)

describe("client:request", function()
  local srv, c

  setup(function()
    srv = fake.start()
    c = plexauth.new{ server_url = srv.url, token = srv.token, retries = false }
  end)
  teardown(function()
    c:close()
    fake.stop_all()
  end)
  before_each(function() srv:reset() end)

  it("GETs a path by default and decodes a JSON answer", function()
    local res = c:request{ path = "/identity" }
    assert.equal(200, res.status_code)
    assert.equal(srv.machine_id, res.object.MediaContainer.machineIdentifier)
    assert.is_nil(res.token)
    assert.is_nil(res.device)
    local r = srv:log()[1]
    assert.equal("GET", r.method)
    assert.equal("/identity", r.path)
    assert.equal("", r.query)
    assert.equal(srv.token, r.headers["x-plex-token"])
    assert.equal("application/json", r.headers["accept"])
  end)

  it("reaches the token endpoint like get_transient_token", function()
    local res = c:request{ path = "/security/token", query = { type = "delegation", scope = "all" } }
    assert.is_string(res.object.MediaContainer.token)
  end)

  it("sends the given method", function()
    for _, m in ipairs({ "POST", "PUT", "DELETE" }) do
      srv:script{ { status = 200, body = "{}", content_type = "application/json" } }
      local res = c:request{ method = m, path = "/library/sections" }
      assert.equal(200, res.status_code)
    end
    local res = c:request{ method = "HEAD", path = "/identity" }
    assert.equal(200, res.status_code)
    assert.equal("", res.body)
    local log = srv:log()
    assert.same({ "POST", "PUT", "DELETE", "HEAD" },
                { log[1].method, log[2].method, log[3].method, log[4].method })
  end)

  it("percent-encodes query keys and values, booleans as 1/0, numbers as numbers", function()
    local query = {
      text = "a b&c=d#e/f?g+h%i",
      utf8 = "\195\169\226\156\147",
      ["odd key&="] = "v",
      yes = true, no = false,
      int = 42, neg = -7, big = 4294967296, frac = 1.5,
      empty = "",
    }
    c:request{ path = "/identity", query = query }
    local raw = srv:log()[1].query
    assert.is_nil(raw:find("[^%w%%%-%._~&=]"), raw)
    local got, n = parse_query(raw)
    assert.equal(10, n)
    assert.same({
      text = "a b&c=d#e/f?g+h%i", utf8 = "\195\169\226\156\147", ["odd key&="] = "v",
      yes = "1", no = "0", int = "42", neg = "-7", big = "4294967296", frac = "1.5", empty = "",
    }, got)
  end)

  it("sends no '?' for an empty query table", function()
    c:request{ path = "/identity", query = {} }
    assert.equal("", srv:log()[1].query)
  end)

  it("gives object = nil and no DecodeError for a body that is not JSON", function()
    srv:script{ { status = 200, body = "plain words", content_type = "text/plain" } }
    local res = c:request{ path = "/identity" }
    assert.equal(200, res.status_code)
    assert.equal("plain words", res.body)
    assert.equal("text/plain", res.content_type)
    assert.is_nil(res.object)
  end)

  it("gives object = nil and no DecodeError for invalid JSON", function()
    srv:script{ { status = 200, body = "{not json", content_type = "application/json" } }
    local res = c:request{ path = "/identity" }
    assert.equal("{not json", res.body)
    assert.is_nil(res.object)
  end)

  it("gives object = nil for the XML answer PMS sends without Accept JSON", function()
    srv:script{ { status = 200, body = "<MediaContainer size=\"0\"/>", content_type = "text/xml" } }
    local res = c:request{ path = "/identity" }
    assert.is_nil(res.object)
    assert.equal("text/xml", res.content_type)
  end)

  it("raises APIError for 4xx and 5xx and Unauthorized for 401", function()
    local e = raises(errors.APIError, c.request, c, { path = "/no/such/thing" })
    assert.equal(404, e.status_code)
    assert.equal("request", e.operation)
    srv:script{ { status = 400 } }
    assert.equal(400, raises(errors.APIError, c.request, c, { path = "/identity" }).status_code)
    srv:script{ { status = 500 } }
    assert.equal(500, raises(errors.APIError, c.request, c, { path = "/identity" }).status_code)
    local anon = plexauth.new{ server_url = srv.url }
    local u = raises(errors.Unauthorized, anon.request, anon, { path = "/security/token" })
    assert.equal(401, u.status_code)
    anon:close()
  end)

  it("does not follow redirects: a 302 is an APIError", function()
    srv:script{ { redirect = srv.url .. "/identity" } }
    local e = raises(errors.APIError, c.request, c, { path = "/old" })
    assert.equal(302, e.status_code)
    assert.equal(srv.url .. "/identity", e.headers["location"])
    assert.equal(1, #srv:log())
  end)

  local invalid = {
    ["a string"] = "/identity",
    ["nil"] = nil,
    ["no path"] = {},
    ["a path without /"] = { path = "identity" },
    ["a path with a query"] = { path = "/identity?x=1" },
    ["a path with a space"] = { path = "/a b" },
    ["a path with CR LF"] = { path = "/a\r\nX-Evil: 1" },
    ["a numeric path"] = { path = 5 },
    ["a lower-case method"] = { method = "get", path = "/identity" },
    ["a method with a space"] = { method = "GET /x", path = "/identity" },
    ["a numeric method"] = { method = 1, path = "/identity" },
    ["a query string"] = { path = "/identity", query = "a=1" },
    ["a table query value"] = { path = "/identity", query = { a = {} } },
    ["a function query value"] = { path = "/identity", query = { a = print } },
    ["a numeric query key"] = { path = "/identity", query = { "x" } },
    ["an unknown field"] = { path = "/identity", body = "x" },
  }
  for name, req in pairs(invalid) do
    it("raises ArgumentError for " .. name .. " before any request", function()
      raises(errors.ArgumentError, c.request, c, req)
      assert.equal(0, #srv:log())
    end)
  end
end)
