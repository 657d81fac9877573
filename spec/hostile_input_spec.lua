-- Careless or hostile callers: every option and argument of the contract,
-- given a wrong type, an out-of-range number, an empty string or CR/LF/NUL,
-- raises ArgumentError naming it, before anything reaches the server.
local fake = require("spec.support.fake")
local plexauth = require("plexauth")
local errors = plexauth.errors

local NAN, INF = 0 / 0, math.huge

-- Bad values for each option; the message must contain the option's name.
local BAD_OPTIONS = {
  server_url = { 1, true, {}, "", "ftp://127.0.0.1", "127.0.0.1:32400", "http://",
                 "http://127.0.0.1:32400/a b", "http://127.0.0.1:32400\r\nX: y",
                 "http://127.0.0.1\0:32400", "http://127.0.0.1:32400/?x=1", "http://127.0.0.1:0",
                 "http://127.0.0.1:65536", "file:///etc/passwd", "javascript:alert(1)" },
  protocol = { 1, true, "", "ftp", "HTTP\r\n", "http\0" },
  ip = { 1, true, {}, "", "a b", "127.0.0.1\r\nX: y", "127.0.0.1\0", "host/path", "user@host" },
  port = { "32400", true, 0, -1, 65536, 1.5, NAN, INF, -INF },
  token = { 1, true, {}, "", "a\rb", "a\nb", "a\0b", "a\r\nX-Other: 1" },
  timeout = { "5", true, {}, 0, -1, NAN, INF },
  connect_timeout = { "5", true, {}, 0, -1, NAN, INF },
  retries = { true, 1, "yes", { max_attempts = 0 }, { max_attempts = 1.5 },
              { max_attempts = "3" }, { initial_interval = -1 }, { initial_interval = NAN },
              { max_interval = INF }, { exponent = 0.5 }, { exponent = "2" },
              { max_elapsed_time = -1 }, { retry_connection_errors = "yes" },
              { status_codes = 503 }, { status_codes = { 99 } }, { status_codes = { 600 } },
              { status_codes = { "503" } }, { status_codes = { 503.5 } }, { unknown = 1 } },
  verify_tls = { 1, "true", "false", {}, 0 },
  ca_file = { 1, true, {}, "", "/nonexistent/ca.pem", "ca\0.pem", "ca\n.pem" },
  max_response_bytes = { "1024", true, 0, -1, 1.5, NAN, INF },
  user_agent = { 1, true, {}, "ua\r\nX: y", "ua\0", "ua\n" },
  resolve = { "a:1:127.0.0.1", 1, true, { 1 }, { "" }, { "host" }, { "host:80" },
              { "host:0:127.0.0.1" }, { "host:65536:127.0.0.1" }, { "host:80:not-an-ip" },
              { "host:80:127.0.0.1\r\nX: y" }, { "host:80:999.0.0.1" } },
  plex_direct = { 1, "true", {}, 0 },
  hooks = { 1, true, "f", { before_request = 1 }, { after_success = "f" },
            { after_error = {} }, { unknown = function() end } },
}
for _, name in ipairs({ "client_identifier", "product", "version", "platform",
                        "platform_version", "device", "model", "device_vendor",
                        "device_name", "marketplace" }) do
  BAD_OPTIONS[name] = { 1, true, {}, "", "a\rb", "a\nb", "a\0b", "a\r\nX-Plex-Token: stolen" }
end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "table" then
    local parts = {}
    for k, x in pairs(v) do parts[#parts + 1] = tostring(k) .. "=" .. show(x) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return tostring(v)
end

describe("hostile input", function()
  local srv

  setup(function() srv = fake.start() end)
  teardown(function() fake.stop_all() end)
  before_each(function() srv:reset() end)
  -- Nothing any of these calls did reached the server.
  after_each(function() assert.same({}, srv:log()) end)

  local function base()
    return { server_url = srv.url, token = srv.token, timeout = 5, retries = false }
  end

  local function client(opts)
    local o = base()
    for k, v in pairs(opts or {}) do o[k] = v end
    return plexauth.new(o)
  end

  -- Expects fn(...) to raise an ArgumentError whose message contains `name`.
  local function rejects(name, what, fn, ...)
    local ok, err = pcall(fn, ...)
    assert.is_false(ok, what .. " was accepted")
    assert.is_true(errors.is(err, errors.ArgumentError),
      what .. ": not an ArgumentError: " .. tostring(err))
    assert.equal("argument", err.kind)
    assert.is_true(string.find(err.message, name, 1, true) ~= nil,
      what .. ": message does not name " .. name .. ": " .. err.message)
    assert.matches("^plexauth: argument: ", tostring(err))
    return err
  end

  describe("options", function()
    local names = {}
    for name in pairs(BAD_OPTIONS) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
      it(name, function()
        for _, v in ipairs(BAD_OPTIONS[name]) do
          local o = base()
          if name == "protocol" or name == "ip" or name == "port" then o.server_url = nil end
          o[name] = v
          local what = name .. " = " .. show(v)
          rejects(name, what, plexauth.new, o)
          rejects(name, what .. " (from_env)", plexauth.from_env, o)
        end
      end)
    end

    it("unknown option names", function()
      for _, k in ipairs({ "tokn", "Timeout", "headers", "url" }) do
        local o = base()
        o[k] = "x"
        rejects(k, "option " .. k, plexauth.new, o)
      end
      rejects("options", "a non-table", plexauth.new, "http://127.0.0.1")
      rejects("options", "a non-table", plexauth.from_env, 42)
    end)

    it("a bad option wins over PLEX_* variables", function()
      rejects("timeout", "timeout = -1", plexauth.from_env, { timeout = -1 })
    end)
  end)

  describe("methods", function()
    it("get_transient_token type and scope", function()
      local c = client()
      for _, v in ipairs({ "", "other", 1, true, "delegation\r\n", "delegation\0" }) do
        rejects("type", "type " .. show(v), c.get_transient_token, c, v)
        rejects("type", "{type=" .. show(v) .. "}", c.get_transient_token, c, { type = v })
        if v ~= true then
          rejects("scope", "scope " .. show(v), c.get_transient_token, c, "delegation", v)
          rejects("scope", "{scope=" .. show(v) .. "}", c.get_transient_token, c, { scope = v })
        end
      end
      c:close()
    end)

    it("get_source_connection_information source", function()
      local c = client()
      for _, v in ipairs({ 1, true, "", "abc", "server:abc", "server:/abc", "://abc",
                           "server://", "1server://abc", {}, { source = 1 }, { source = "" } }) do
        rejects("source", "source " .. show(v), c.get_source_connection_information, c, v)
      end
      rejects("source", "no source", c.get_source_connection_information, c)
      c:close()
    end)

    it("request method, path, query and fields", function()
      local c = client()
      local bad = {
        { "request", "x" }, { "request", nil },
        { "method", { method = "get", path = "/" } }, { "method", { method = 1, path = "/" } },
        { "method", { method = "", path = "/" } },
        { "method", { method = "GET\r\nX: y", path = "/" } },
        { "path", { path = "identity" } }, { "path", { path = "" } }, { "path", { path = 1 } },
        { "path", { path = "/a b" } }, { "path", { path = "/a\r\nX: y" } },
        { "path", { path = "/a\0" } }, { "path", { path = "/a?b=1" } }, { "path", { path = "/a#b" } },
        { "path", {} },
        { "query", { path = "/", query = "a=1" } },
        { "query", { path = "/", query = { a = {} } } },
        { "query", { path = "/", query = { a = function() end } } },
        { "query", { path = "/", query = { [1] = "x" } } },
        { "body", { path = "/", body = "x" } },
      }
      for _, case in ipairs(bad) do
        rejects(case[1], "request " .. show(case[2]), c.request, c, case[2])
      end
      c:close()
    end)

    it("connect_device device and opts", function()
      local c = client()
      local dev = { connections = { { uri = srv.url, protocol = "http", address = "127.0.0.1",
                                      port = srv.port, ["local"] = true, relay = false } } }
      rejects("device", "no device", c.connect_device, c)
      rejects("device", "a string device", c.connect_device, c, "server://x")
      rejects("device", "no connections", c.connect_device, c, {})
      rejects("opts", "string opts", c.connect_device, c, dev, "fast")
      rejects("allow_relay", "allow_relay = 1", c.connect_device, c, dev, { allow_relay = 1 })
      rejects("timeout", "timeout = 0", c.connect_device, c, dev, { timeout = 0 })
      rejects("timeout", "timeout = 'x'", c.connect_device, c, dev, { timeout = "x" })
      rejects("uri", "a connection without uri", c.connect_device, c,
              { connections = { { protocol = "http" } } })
      rejects("server_url", "a connection with a bad uri", c.connect_device, c,
              { connections = { { uri = "ftp://127.0.0.1:1" } } })
      rejects("token", "an access token with CR LF", c.connect_device, c,
              { access_token = "x\r\nX: y", connections = dev.connections })
      rejects("verify_tls", "a bad client option", c.connect_device, c, dev, { verify_tls = "no" })
      c:close()
    end)

    it("preferred_connections device and opts", function()
      local dev = { connections = { { uri = "http://127.0.0.1:1", protocol = "http" } } }
      local pc = plexauth.preferred_connections
      rejects("device", "no device", pc)
      rejects("device", "a string device", pc, "server://x")
      rejects("connections", "connections = 'x'", pc, { connections = "x" })
      rejects("connections", "a number connection", pc, { connections = { 1 } })
      rejects("opts", "string opts", pc, dev, "x")
      rejects("allow_relay", "allow_relay = 1", pc, dev, { allow_relay = 1 })
      rejects("allow_relay", "allow_relay = 'false'", pc, dev, { allow_relay = "false" })
    end)

    it("methods called with a dot or on a closed client", function()
      local c = client()
      rejects("Client", "get_transient_token with .", c.get_transient_token)
      rejects("Client", "request with .", c.request, { path = "/" })
      rejects("Client", "source with .", c.get_source_connection_information, "server://x")
      c:close()
      c:close()
      rejects("closed", "a closed client", c.get_transient_token, c)
      rejects("closed", "a closed client", c.request, c, { path = "/" })
    end)

    it("headers set by before_request hooks", function()
      local bad = {
        { "X-Custom", "a\r\nX-Plex-Token: stolen" }, { "X-Custom", "a\nb" },
        { "X-Custom", "a\0b" }, { "X-Custom", 1 }, { "X-Custom", {} },
        { "X Bad", "v" }, { "X-Bad:", "v" }, { "X-Bad\r\n", "v" }, { "", "v" },
      }
      for _, case in ipairs(bad) do
        local c = client{ hooks = { before_request = function(_, req)
          req.headers[case[1]] = case[2]
        end } }
        rejects("header", "header " .. show(case[1]) .. " = " .. show(case[2]),
                c.get_transient_token, c)
        c:close()
      end
      local c = client{ hooks = { before_request = function(_, req) req.headers = "x" end } }
      rejects("headers", "req.headers = 'x'", c.get_transient_token, c)
      c:close()
    end)
  end)
end)
