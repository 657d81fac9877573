-- plexauth.account against the fake plex.tv (fake_pms.lua with --plextv) over
-- HTTPS with a test CA made here, and over HTTP.
local fake = require("spec.support.fake")
local plexauth = require("plexauth")
local errors = plexauth.errors

local function sh(cmd)
  local ok = os.execute(cmd)
  assert(ok == true or ok == 0, "command failed: " .. cmd)
end

local function raises(class, fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "no error raised")
  assert.is_true(errors.is(err, class), "got " .. tostring(err))
  return err
end

describe("plexauth.account", function()
  local dir, tv, plain, pms, cert

  local function account(extra)
    local o = { client_identifier = "spec-account", plextv_url = tv.url, ca_file = cert,
                retries = { initial_interval = 0.01, max_interval = 0.02 } }
    for k, v in pairs(extra or {}) do o[k] = v end
    return plexauth.account(o)
  end

  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    sh("mkdir -m 700 " .. dir)
    cert = dir .. "/tv.crt"
    sh(string.format("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
      .. " -keyout %s/tv.key -out %s -days 2 -subj /CN=localhost"
      .. " -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null", dir, cert))
    tv = fake.start{ plextv = true, tls_cert = cert, tls_key = dir .. "/tv.key" }
    plain = fake.start{ plextv = true }
    pms = fake.start{}
  end)

  teardown(function()
    fake.stop_all()
    sh("rm -rf " .. dir)
  end)

  before_each(function()
    tv:reset()
    plain:reset()
    tv:plextv{ server_uri = pms.url }
  end)

  describe("options", function()
    it("requires client_identifier and rejects unknown keys, before any traffic", function()
      raises(errors.ArgumentError, function() plexauth.account{ plextv_url = tv.url } end)
      raises(errors.ArgumentError, function() account{ tokn = "x" } end)
      local err = raises(errors.ArgumentError, function() account{ plextv_url = "ftp://127.0.0.1/" } end)
      assert.matches("^plextv_url must be", err.message) -- the account's option, not server_url
      assert.are.equal(0, #tv:log())
    end)

    it("verifies TLS by default: an unknown CA is refused", function()
      local a = plexauth.account{ client_identifier = "spec-account", plextv_url = tv.url }
      local err = raises(errors.TransportError, function() a:create_pin() end)
      assert.are.equal("tls", err.reason)
    end)
  end)

  describe("PINs", function()
    it("creates a short PIN: POST /api/v2/pins, Accept json, identity headers", function()
      local a = account{ product = "Spec Product" }
      local pin = a:create_pin()
      assert.is_number(pin.id)
      assert.are.equal(4, #pin.code)
      assert.is_false(pin.strong)
      assert.are.equal("https://plex.tv/link", pin.auth_url)
      assert.is_true(pin.expires_in > 890 and pin.expires_in <= 900)
      assert.is_true(math.abs(pin.expires_at - (os.time() + 900)) <= 2)
      local r = tv:log()[1]
      assert.are.equal("POST", r.method)
      assert.are.equal("/api/v2/pins", r.path)
      assert.matches("application/json", r.headers["accept"])
      assert.are.equal("spec-account", r.headers["x-plex-client-identifier"])
      assert.are.equal("Spec Product", r.headers["x-plex-product"])
      assert.is_nil(r.headers["x-plex-token"])
    end)

    it("creates a strong PIN with the app.plex.tv URL, each value percent-encoded", function()
      local a = account{ product = "My App", client_identifier = "id/1" }
      local pin = a:create_pin{ strong = true }
      assert.is_true(pin.strong)
      assert.are.equal("strong=true", tv:log()[1].query)
      assert.are.equal("https://app.plex.tv/auth#?clientID=id%2F1&code=" .. pin.code
        .. "&context%5Bdevice%5D%5Bproduct%5D=My%20App", pin.auth_url)
    end)

    it("check_pin: nil until linked, then the token, which the account adopts", function()
      tv:plextv{ link_after = 2 }
      local a = account()
      local pin = a:create_pin()
      assert.is_nil(a:check_pin(pin))
      assert.are.equal("alice-token-1a2b3c4d", a:check_pin(pin))
      assert.are.equal("alice", a:user().username)
      assert.are.equal("alice-token-1a2b3c4d", tv:log()[4].headers["x-plex-token"])
    end)

    it("check_pin raises PinExpired (with pin_id) on plex.tv's 404", function()
      local a = account()
      local pin = a:create_pin()
      tv:plextv{ expire_all = true }
      local err = raises(errors.PinExpired, function() a:check_pin(pin) end)
      assert.are.equal("pin_expired", err.kind)
      assert.are.equal(pin.id, err.pin_id)
    end)

    it("check_pin raises PinExpired once expires_at has passed, without asking", function()
      local a = account()
      local pin = a:create_pin()
      pin.expires_at = os.time() - 1
      raises(errors.PinExpired, function() a:check_pin(pin) end)
      assert.are.equal(1, #tv:log())
    end)

    it("wait_for_pin polls every interval, calls on_wait, returns the token", function()
      tv:plextv{ link_after = 3 }
      local a = account()
      local pin = a:create_pin()
      local waits = {}
      local token = a:wait_for_pin(pin, { interval = 0.05, on_wait = function(p, left)
        waits[#waits + 1] = { p, left }
      end })
      assert.are.equal("alice-token-1a2b3c4d", token)
      assert.are.equal(2, #waits)
      assert.are.equal(pin, waits[1][1])
      assert.is_true(waits[1][2] > 800 and waits[1][2] <= 900)
      assert.are.equal(4, #tv:log())
    end)

    it("wait_for_pin honours a 429's Retry-After", function()
      tv:plextv{ link_after = 1 }
      local a = account{ retries = { max_attempts = 1 } } -- the 429 reaches wait_for_pin
      local pin = a:create_pin()
      tv:script{ { status = 429, body = "{}", content_type = "application/json",
                   headers = { ["Retry-After"] = "1" } } }
      local t0 = require("socket").gettime()
      assert.are.equal("alice-token-1a2b3c4d", a:wait_for_pin(pin, { interval = 0.05 }))
      assert.is_true(require("socket").gettime() - t0 >= 0.9, "Retry-After not waited out")
    end)

    it("wait_for_pin waits out a 429 itself, not through the retry policy, no longer than the PIN lives",
       function()
      -- lifetime leaves room for a slow start (valgrind) before the first check;
      -- expires_at has whole seconds
      tv:plextv{ link_after = -1, lifetime = 5 }
      local a = account{ retries = { max_attempts = 5, initial_interval = 0.01, max_interval = 0.02 } }
      local pin = a:create_pin()
      tv:script{ { path = "/api/v2/pins/" .. pin.id, status = 429, body = "{}", content_type = "application/json",
                   headers = { ["Retry-After"] = "60" }, ["repeat"] = 10 } }
      local t0 = require("socket").gettime()
      raises(errors.PinExpired, function() a:wait_for_pin(pin, { interval = 0.05 }) end)
      local took = require("socket").gettime() - t0
      assert.is_true(took < 30, "waited out a Retry-After longer than the PIN's life")
      local checks = 0
      for _, r in ipairs(tv:log()) do if r.method == "GET" then checks = checks + 1 end end
      assert.are.equal(1, checks) -- the policy did not retry the 429 (check_pin's own calls do)
    end)

    it("wait_for_pin: TransportError timeout when its timeout passes first", function()
      tv:plextv{ link_after = -1 }
      local a = account()
      local pin = a:create_pin()
      local err = raises(errors.TransportError, function()
        a:wait_for_pin(pin, { interval = 0.05, timeout = 0.3 })
      end)
      assert.are.equal("timeout", err.reason)
    end)

    it("wait_for_pin: PinExpired when the PIN expires first", function()
      tv:plextv{ link_after = -1, lifetime = 1 }
      local a = account()
      local pin = a:create_pin()
      raises(errors.PinExpired, function() a:wait_for_pin(pin, { interval = 0.1 }) end)
    end)

    it("rejects a bad interval before any traffic", function()
      local a = account()
      local pin = a:create_pin()
      raises(errors.ArgumentError, function() a:wait_for_pin(pin, { interval = 0 }) end)
      raises(errors.ArgumentError, function() a:wait_for_pin(pin, { intreval = 1 }) end)
      assert.are.equal(1, #tv:log())
    end)
  end)

  describe("sign_in", function()
    it("signs in with a form-encoded POST and adopts the token", function()
      local a = account()
      local u = a:sign_in{ login = "alice", password = "alice-password" }
      assert.are.equal("alice", u.username)
      assert.are.equal(101, u.id)
      assert.are.equal("alice@example.test", u.email)
      assert.are.equal("alice-token-1a2b3c4d", u.auth_token)
      assert.is_false(u.two_factor_enabled)
      assert.is_table(u.object)
      local r = tv:log()[1]
      assert.are.equal("POST", r.method)
      assert.are.equal("/api/v2/users/signin", r.path)
      assert.matches("login=alice", r.body)
      assert.matches("password=alice%-password", r.body)
      assert.are.equal("", r.query)
      assert.are.equal("alice", a:user().username)
    end)

    it("TwoFactorRequired for code 1029, then succeeds with the verification code", function()
      local a = account()
      local err = raises(errors.TwoFactorRequired, function()
        a:sign_in{ login = "bob", password = "bob-password" }
      end)
      assert.are.equal("two_factor_required", err.kind)
      assert.is_true(errors.is(err, errors.Unauthorized))
      assert.are.equal(1029, err.errors[1].code)
      local u = a:sign_in{ login = "bob", password = "bob-password", verification_code = "123456" }
      assert.is_true(u.two_factor_enabled)
      assert.matches("verificationCode=123456", tv:log()[2].body)
    end)

    it("Unauthorized for wrong credentials; never retried, even a 503", function()
      local a = account{ retries = { max_attempts = 3, initial_interval = 0.01 } }
      local err = raises(errors.Unauthorized, function() a:sign_in{ login = "alice", password = "nope" } end)
      assert.are.equal(1001, err.errors[1].code)
      tv:reset()
      tv:script{ { status = 503 } }
      raises(errors.APIError, function() a:sign_in{ login = "alice", password = "alice-password" } end)
      assert.are.equal(1, #tv:log())
    end)

    it("keeps the password and code out of errors, hooks and tostring, even when echoed", function()
      tv:plextv{ echo = true }
      local seen = {}
      local hooks = {
        before_request = function(...) seen[#seen + 1] = { ... } end,
        after_error = function(...) seen[#seen + 1] = { ... } end,
      }
      local a = account{ hooks = hooks }
      local secrets = { "sekret-Passw0rd", "987654" }
      local err = raises(errors.Unauthorized, function()
        a:sign_in{ login = "bob", password = secrets[1], verification_code = secrets[2] }
      end)
      local function scan(v, depth)
        if depth > 6 then return end
        if type(v) == "string" then
          for _, s in ipairs(secrets) do assert.is_nil(v:find(s, 1, true), "secret in " .. v) end
        elseif type(v) == "table" then
          for k, x in pairs(v) do scan(k, depth + 1); scan(x, depth + 1) end
        end
      end
      scan(tostring(err), 0)
      scan(err, 0)
      scan(seen, 0)
      assert.is_true(#seen >= 2)
      scan(tostring(a), 0)
    end)
  end)

  it("keeps the password and code out in each form an echoing server writes them", function()
    local cjson = require("cjson")
    local password, code = "p@ss/w\"rd <&> x'y+z% \\q", "12 34/5&6"
    local function forms(s)
      local list = { s, require("plexauth.url").escape(s), cjson.encode(s):sub(2, -2),
                     (s:gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" })) }
      return list
    end
    local all = {}
    for _, s in ipairs({ password, code }) do for _, f in ipairs(forms(s)) do all[#all + 1] = f end end
    for _, echo in ipairs({ true, "xml" }) do
      tv:reset()
      tv:plextv{ echo = echo }
      local a = account()
      local err = raises(errors.Unauthorized, function()
        a:sign_in{ login = "bob", password = password, verification_code = code }
      end)
      assert.is_truthy(err.body:find("<redacted>", 1, true), "the fake did not echo: " .. err.body)
      for _, v in ipairs({ tostring(err), err.body, err.message, cjson.encode(err.errors or {}),
                           cjson.encode(err.headers) }) do
        for _, f in ipairs(all) do
          assert.is_nil(v:find(f, 1, true), string.format("%q in %s", f, v))
        end
      end
      a:close()
    end
  end)

  it("sends a POST on a fresh connection: libcurl never resends the password by itself", function()
    local a = account{ token = "alice-token-1a2b3c4d" }
    a:ping() -- a kept-alive connection the POST could reuse
    a:ping()
    tv:reset()
    tv:script{ { path = "/api/v2/users/signin", close = true } }
    local err = raises(errors.TransportError, function()
      a:sign_in{ login = "alice", password = "alice-password" }
    end)
    assert.are.equal(1, err.attempts)
    assert.are.equal(1, #tv:log(), "the sign-in was sent again")
    a:close()
  end)

  describe("user, resources, servers, ping", function()
    it("user() without a token raises ArgumentError before any traffic", function()
      raises(errors.ArgumentError, function() account():user() end)
      assert.are.equal(0, #tv:log())
    end)

    it("user(): Unauthorized for a bad token (401) and a revoked one (422 XML)", function()
      raises(errors.Unauthorized, function() account{ token = "bad-token-123" }:user() end)
      tv:plextv{ revoke = "alice-token-1a2b3c4d" }
      local err = raises(errors.Unauthorized, function() account{ token = "alice-token-1a2b3c4d" }:user() end)
      assert.are.equal(422, err.status_code)
      assert.is_nil(tostring(err):find("alice-token-1a2b3c4d", 1, true))
    end)

    it("sends the token only as X-Plex-Token", function()
      account{ token = "alice-token-1a2b3c4d" }:ping()
      local r = tv:log()[1]
      assert.are.equal("/api/v2/ping", r.path)
      assert.are.equal("alice-token-1a2b3c4d", r.headers["x-plex-token"])
      assert.is_nil(r.query:find("alice", 1, true))
    end)

    it("resources(): the flags, and normalized devices", function()
      local a = account{ token = "alice-token-1a2b3c4d" }
      local devs = a:resources()
      assert.are.equal("includeHttps=1&includeRelay=1&includeIPv6=1", tv:log()[1].query)
      assert.are.equal(3, #devs)
      local home = devs[1]
      assert.are.equal("Home", home.name)
      assert.are.equal("owned-server-id", home.client_identifier)
      assert.are.equal("owned-server-token", home.access_token)
      assert.are.same({ "server" }, home.provides)
      assert.is_true(home.owned)
      assert.is_true(home.presence)
      assert.is_false(home.https_required)
      assert.are.equal("203.0.113.5", home.public_address)
      assert.are.equal("Plex Media Server", home.product)
      assert.are.equal(pms.url, home.connections[1].uri)
      assert.is_true(home.connections[1]["local"])
      assert.is_true(home.connections[3].relay)
      assert.is_false(home.connections[1].ipv6)
      assert.is_true(#devs[2].access_token > 500)
      assert.are.same({ "client", "player" }, devs[3].provides)
      a:resources{ include_https = false, include_relay = false, include_ipv6 = false }
      assert.are.equal("includeHttps=0&includeRelay=0&includeIPv6=0", tv:log()[2].query)
    end)

    it("resources(): DecodeError for an answer that is not an array", function()
      tv:plextv{ resources = { devices = {} } }
      raises(errors.DecodeError, function() account{ token = "alice-token-1a2b3c4d" }:resources() end)
    end)

    it("servers(): only the devices that provide a server", function()
      local s = account{ token = "alice-token-1a2b3c4d" }:servers()
      assert.are.equal(2, #s)
      assert.is_true(s[1].owned)
      assert.is_false(s[2].owned)
    end)

    it("connect_device(): a Client on the owned server's reachable connection", function()
      local a = account{ token = "alice-token-1a2b3c4d" }
      local home = a:servers()[1]
      assert.are.equal(2, #plexauth.preferred_connections(home, { allow_relay = false }))
      home.access_token = pms.token
      local client, conn = a:connect_device(home, { allow_relay = false, timeout = 2 })
      assert.are.equal(pms.url, conn.uri)
      assert.matches("^transient%-", client:get_transient_token().token)
      client:close()
    end)

    it("works over plain HTTP too", function()
      local a = plexauth.account{ client_identifier = "spec-account", plextv_url = plain.url }
      local u = a:sign_in{ login = "alice", password = "alice-password" }
      assert.are.equal("alice", u.username)
      assert.are.equal(3, #a:resources())
      a:close()
      raises(errors.ArgumentError, function() a:user() end)
    end)
  end)

  describe("in a poll loop", function()
    it("wait_for_pin suspends the task while the loop keeps running", function()
      tv:plextv{ link_after = 3 }
      local loop = plexauth.loops.poll()
      local a = account{ loop = loop }
      local ticks, result = 0, nil
      loop:spawn(function()
        local pin = a:create_pin()
        return a:wait_for_pin(pin, { interval = 0.1 })
      end, function(ok, v) result = { ok, v } end)
      loop:spawn(function()
        while not result do
          ticks = ticks + 1
          loop:sleep(0.01)
        end
      end)
      loop:run()
      assert.are.same({ true, "alice-token-1a2b3c4d" }, result)
      assert.is_true(ticks >= 10, "the loop stalled: " .. ticks .. " ticks")
    end)
  end)
end)
