-- plexauth.new options: defaults, the base URL, validation, and the
-- transport options that are observable against the fake PMS.
local plexauth = require("plexauth")
local errors = plexauth.errors
local socket = require("socket")
local fake = require("spec.support.fake")
local util = require("spec.support.util")

local raises = util.raises

describe("plexauth.new", function()
  local srv
  local clients = {}

  setup(function() srv = fake.start() end)
  teardown(function() fake.stop_all() end)
  before_each(function() srv:reset() end)
  after_each(function()
    for _, c in ipairs(clients) do c:close() end
    clients = {}
  end)

  local function new(o)
    local c = plexauth.new(o)
    clients[#clients + 1] = c
    return c
  end

  describe("base URL", function()
    it("defaults to http://127.0.0.1:32400", function()
      assert.equal("http://127.0.0.1:32400", new().base)
      assert.equal("http://127.0.0.1:32400", new({}).base)
    end)

    it("is built from protocol, ip and port", function()
      assert.equal("https://127.0.0.1:32400", new{ protocol = "https" }.base)
      assert.equal("http://pms.example:32400", new{ ip = "pms.example" }.base)
      assert.equal("http://127.0.0.1:8080", new{ port = 8080 }.base)
      assert.equal("https://10.0.0.2:1", new{ protocol = "https", ip = "10.0.0.2", port = 1 }.base)
      assert.equal("http://127.0.0.1:65535", new{ port = 65535 }.base)
    end)

    it("brackets an IPv6 ip given with or without brackets", function()
      assert.equal("http://[::1]:32400", new{ ip = "::1" }.base)
      assert.equal("http://[::1]:32400", new{ ip = "[::1]" }.base)
      assert.equal("https://[2001:db8::7]:443", new{ protocol = "https", ip = "2001:db8::7", port = 443 }.base)
      assert.equal("https://[2001:db8::7]:443", new{ protocol = "https", ip = "[2001:db8::7]", port = 443 }.base)
    end)

    it("reaches the server through ip and port", function()
      local c = new{ ip = "127.0.0.1", port = srv.port, token = srv.token }
      assert.is_string(c:get_transient_token().token)
      assert.equal("127.0.0.1:" .. srv.port, srv:log()[1].headers["host"])
    end)

    it("is server_url with trailing slashes removed", function()
      assert.equal(srv.url, new{ server_url = srv.url }.base)
      assert.equal(srv.url, new{ server_url = srv.url .. "/" }.base)
      assert.equal(srv.url .. "/plex", new{ server_url = srv.url .. "/plex/" }.base)
      assert.equal("https://pms.example/plex", new{ server_url = "https://pms.example/plex" }.base)
    end)

    it("a trailing / in server_url gives no double slash on the wire", function()
      local c = new{ server_url = srv.url .. "/", token = srv.token }
      c:get_transient_token()
      c:request{ path = "/identity" }
      local log = srv:log()
      assert.equal("/security/token", log[1].path)
      assert.equal("/identity", log[2].path)
    end)

    it("keeps a path prefix of server_url in every request", function()
      local c = new{ server_url = srv.url .. "/plex/", token = srv.token, retries = false }
      -- The fake PMS serves at the root, so prefixed paths are 404s; the log shows the paths.
      raises(errors.APIError, c.get_transient_token, c)
      raises(errors.APIError, c.get_source_connection_information, c, "server://abc")
      raises(errors.APIError, c.request, c, { path = "/identity", query = { a = 1 } })
      local log = srv:log()
      assert.equal("/plex/security/token", log[1].path)
      assert.equal("type=delegation&scope=all", log[1].query)
      assert.equal("/plex/security/resources", log[2].path)
      assert.equal("source=server%3A%2F%2Fabc", log[2].query)
      assert.equal("/plex/identity", log[3].path)
      assert.equal("a=1", log[3].query)
    end)

    it("ignores protocol, ip and port when server_url is given", function()
      local c = new{ server_url = srv.url, protocol = "https", ip = "127.0.0.2",
                     port = fake.free_port(), token = srv.token }
      assert.equal(srv.url, c.base)
      assert.is_string(c:get_transient_token().token)
    end)

    it("reaches an IPv6 server on ::1 with ip given with or without brackets", function()
      local ok, srv6 = pcall(fake.start, { host = "::1" })
      if not ok then
        pending("no ::1 on this machine: " .. tostring(srv6))
        return
      end
      for _, o in ipairs({ { ip = "::1", port = srv6.port }, { ip = "[::1]", port = srv6.port },
                           { server_url = "http://[::1]:" .. srv6.port .. "/" } }) do
        o.token = srv6.token
        local c = new(o)
        assert.equal("http://[::1]:" .. srv6.port, c.base)
        assert.is_string(c:get_transient_token().token)
      end
      local log = srv6:log()
      srv6:stop()
      assert.equal(3, #log)
      assert.equal("[::1]:" .. srv6.port, log[1].headers["host"])
    end)
  end)

  describe("validation", function()
    local bad = {
      ["a string for opts"] = "http://127.0.0.1",
      ["an unknown option"] = { tokn = "x" },
      ["an unknown option next to good ones"] = { token = "x", retry = false },
      ["server_url not a string"] = { server_url = 42 },
      ["server_url ftp"] = { server_url = "ftp://127.0.0.1/" },
      ["server_url without scheme"] = { server_url = "127.0.0.1:32400" },
      ["server_url empty"] = { server_url = "" },
      ["server_url without host"] = { server_url = "http://" },
      ["server_url with a space"] = { server_url = "http://127.0.0.1 /x" },
      ["server_url with a query"] = { server_url = "http://127.0.0.1/?a=1" },
      ["server_url with CR LF"] = { server_url = "http://127.0.0.1/\r\nX: y" },
      ["server_url port 0"] = { server_url = "http://127.0.0.1:0" },
      ["server_url port 70000"] = { server_url = "http://127.0.0.1:70000" },
      ["protocol ftp"] = { protocol = "ftp" },
      ["protocol HTTP"] = { protocol = "HTTP" },
      ["protocol a number"] = { protocol = 1 },
      ["ip a number"] = { ip = 127 },
      ["ip empty"] = { ip = "" },
      ["ip with a slash"] = { ip = "127.0.0.1/x" },
      ["port 0"] = { port = 0 },
      ["port 65536"] = { port = 65536 },
      ["port -1"] = { port = -1 },
      ["port 1.5"] = { port = 1.5 },
      ["port a string"] = { port = "32400" },
      ["port inf"] = { port = math.huge },
      ["token a number"] = { token = 12345 },
      ["token with LF"] = { token = "abc\ndef" },
      ["token with CR"] = { token = "abc\rdef" },
      ["token with NUL"] = { token = "abc\0def" },
      ["client_identifier with CR LF"] = { client_identifier = "x\r\nX-Evil: 1" },
      ["product a table"] = { product = {} },
      ["device_name with NUL"] = { device_name = "a\0" },
      ["marketplace a boolean"] = { marketplace = true },
      ["user_agent with LF"] = { user_agent = "ua\n" },
      ["user_agent a number"] = { user_agent = 1 },
      ["timeout 0"] = { timeout = 0 },
      ["timeout -1"] = { timeout = -1 },
      ["timeout a string"] = { timeout = "30" },
      ["timeout NaN"] = { timeout = 0 / 0 },
      ["connect_timeout 0"] = { connect_timeout = 0 },
      ["connect_timeout -5"] = { connect_timeout = -5 },
      ["connect_timeout a boolean"] = { connect_timeout = true },
      ["retries true"] = { retries = true },
      ["retries a string"] = { retries = "3" },
      ["retries an unknown field"] = { retries = { attempts = 3 } },
      ["retries.max_attempts 0"] = { retries = { max_attempts = 0 } },
      ["retries.max_attempts 1.5"] = { retries = { max_attempts = 1.5 } },
      ["retries.initial_interval -1"] = { retries = { initial_interval = -1 } },
      ["retries.max_interval a string"] = { retries = { max_interval = "1" } },
      ["retries.exponent 0.5"] = { retries = { exponent = 0.5 } },
      ["retries.max_elapsed_time -1"] = { retries = { max_elapsed_time = -1 } },
      ["retries.retry_connection_errors 1"] = { retries = { retry_connection_errors = 1 } },
      ["retries.status_codes a number"] = { retries = { status_codes = 503 } },
      ["retries.status_codes 'x'"] = { retries = { status_codes = { "503" } } },
      ["retries.status_codes 99"] = { retries = { status_codes = { 99 } } },
      ["verify_tls a string"] = { verify_tls = "yes" },
      ["verify_tls 0"] = { verify_tls = 0 },
      ["ca_file a number"] = { ca_file = 1 },
      ["ca_file missing"] = { ca_file = "/nonexistent/plexauth-ca.pem" },
      ["max_response_bytes 0"] = { max_response_bytes = 0 },
      ["max_response_bytes 1.5"] = { max_response_bytes = 1.5 },
      ["max_response_bytes a string"] = { max_response_bytes = "1024" },
      ["resolve a string"] = { resolve = "pms.test:80:127.0.0.1" },
      ["resolve an entry without address"] = { resolve = { "pms.test:80" } },
      ["resolve an entry with a bad port"] = { resolve = { "pms.test:x:127.0.0.1" } },
      ["resolve an entry with a bad address"] = { resolve = { "pms.test:80:not-an-ip" } },
      ["resolve a number entry"] = { resolve = { 1 } },
      ["plex_direct a string"] = { plex_direct = "false" },
      ["hooks a function"] = { hooks = print },
    }
    for name, opts in pairs(bad) do
      it("raises ArgumentError for " .. name, function()
        local e = raises(errors.ArgumentError, plexauth.new, opts)
        assert.equal("argument", e.kind)
        assert.is_string(e.message)
      end)
    end

    it("accepts every option with a good value", function()
      local c = new{
        server_url = srv.url, token = srv.token, client_identifier = "cid", product = "p",
        version = "1", platform = "Linux", platform_version = "6", device = "PC", model = "m",
        device_vendor = "v", device_name = "n", marketplace = "m", timeout = 5,
        connect_timeout = 2.5, retries = { max_attempts = 2, initial_interval = 0,
          max_interval = 1, exponent = 1, max_elapsed_time = 5, retry_connection_errors = false,
          status_codes = { 503 } },
        verify_tls = false, max_response_bytes = 4096, user_agent = "ua/1",
        resolve = { "pms.test:80:127.0.0.1", "pms6.test:443:[::1]" }, plex_direct = false,
        hooks = { before_request = function() end },
      }
      assert.equal(200, c:get_transient_token().status_code)
    end)

    it("does not keep a reference that lets later changes to opts leak in", function()
      local o = { server_url = srv.url, token = srv.token }
      local c = new(o)
      o.token = "changed"
      o.server_url = "http://127.0.0.1:1"
      assert.is_string(c:get_transient_token().token)
    end)
  end)

  describe("transport options", function()
    it("timeout limits one attempt", function()
      local c = new{ server_url = srv.url, token = srv.token, timeout = 0.3, retries = false }
      srv:script{ { delay = 3 } }
      local t0 = socket.gettime()
      local e = raises(errors.TransportError, c.get_transient_token, c)
      assert.equal("timeout", e.reason)
      assert.is_true(socket.gettime() - t0 < 0.3 + 1)
    end)

    it("max_response_bytes aborts a larger body with reason too_large", function()
      local c = new{ server_url = srv.url, token = srv.token, max_response_bytes = 2048, retries = false }
      srv:script{ { big = 2048 } }
      assert.equal(2048, #c:request{ path = "/identity" }.body)
      srv:script{ { big = 2049 } }
      assert.equal("too_large", raises(errors.TransportError, c.request, c, { path = "/identity" }).reason)
      srv:script{ { big = 100000, chunked = true } }
      assert.equal("too_large", raises(errors.TransportError, c.request, c, { path = "/identity" }).reason)
    end)

    it("the default max_response_bytes is 1048576", function()
      local c = new{ server_url = srv.url, token = srv.token, retries = false }
      srv:script{ { big = 1048576 } }
      assert.equal(1048576, #c:request{ path = "/identity" }.body)
      srv:script{ { big = 1048577 } }
      assert.equal("too_large", raises(errors.TransportError, c.request, c, { path = "/identity" }).reason)
    end)

    it("resolve pins a host name to an address without DNS", function()
      local name = "pms.plexauth-spec.invalid"
      local c = new{ server_url = "http://" .. name .. ":" .. srv.port, token = srv.token,
                     resolve = { name .. ":" .. srv.port .. ":127.0.0.1" }, retries = false }
      assert.is_string(c:get_transient_token().token)
      assert.equal(name .. ":" .. srv.port, srv:log()[1].headers["host"])
    end)
  end)

  describe("TLS options", function()
    local tls, dir

    setup(function()
      dir = util.tmpdir()
      local ok = os.execute(("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
        .. "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout %s/key.pem -out %s/cert.pem "
        .. ">/dev/null 2>&1"):format(dir, dir))
      assert(ok == true or ok == 0, "openssl failed")
      tls = fake.start{ tls_cert = dir .. "/cert.pem", tls_key = dir .. "/key.pem" }
    end)
    teardown(function()
      if tls then tls:stop() end
      os.execute("rm -rf " .. dir)
    end)

    it("verify_tls (default true) rejects an untrusted certificate with reason tls", function()
      local c = new{ server_url = tls.url, token = tls.token, retries = false }
      local e = raises(errors.TransportError, c.get_transient_token, c)
      assert.equal("tls", e.reason)
      assert.equal(0, #tls:log())
    end)

    it("ca_file trusts the given certificate", function()
      local c = new{ server_url = tls.url, token = tls.token, ca_file = dir .. "/cert.pem" }
      assert.is_string(c:get_transient_token().token)
    end)

    it("verify_tls checks the host name too", function()
      local c = new{ server_url = "https://other.plexauth-spec.invalid:" .. tls.port, token = tls.token,
                     ca_file = dir .. "/cert.pem", retries = false,
                     resolve = { "other.plexauth-spec.invalid:" .. tls.port .. ":127.0.0.1" } }
      assert.equal("tls", raises(errors.TransportError, c.get_transient_token, c).reason)
    end)

    it("verify_tls = false accepts any certificate", function()
      local c = new{ server_url = tls.url, token = tls.token, verify_tls = false }
      assert.is_string(c:get_transient_token().token)
    end)
  end)
end)
