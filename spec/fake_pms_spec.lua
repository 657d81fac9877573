-- Specs for the fake PMS itself (spec/support/fake_pms.lua), driven with LuaSocket.
local socket = require("socket")
local cjson = require("cjson")
local fake = require("spec.support.fake")

local JSON = { ["X-Plex-Token"] = "test-admin-token", Accept = "application/json" }
local TOKEN_PATH = "/security/token?type=delegation&scope=all"

local function with(headers, extra)
  local t = {}
  for k, v in pairs(headers) do t[k] = v end
  for k, v in pairs(extra or {}) do t[k] = v end
  return t
end

local function pct(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

describe("fake PMS", function()
  local srv

  setup(function() srv = fake.start() end)
  teardown(function() fake.stop_all() end)
  before_each(function() srv:reset() end)

  describe("endpoints", function()
    it("prints its port and exposes a url", function()
      assert.is_true(srv.port > 0)
      assert.equal("http://127.0.0.1:" .. srv.port, srv.url)
      assert.is_true(srv:running())
    end)

    it("GET /identity answers JSON without a token", function()
      local res = srv:request("GET", "/identity", { Accept = "application/json" })
      assert.equal(200, res.status)
      assert.equal("application/json", res.headers["content-type"])
      local mc = cjson.decode(res.body).MediaContainer
      assert.equal("fake-pms-machine-id", mc.machineIdentifier)
      assert.equal("1.40.0", mc.version)
    end)

    it("GET /security/token gives a unique transient token as JSON", function()
      local a = cjson.decode(srv:request("GET", TOKEN_PATH, JSON).body).MediaContainer
      local b = cjson.decode(srv:request("GET", TOKEN_PATH, JSON).body).MediaContainer
      assert.equal(0, a.size)
      assert.matches("^transient%-", a.token)
      assert.not_equal(a.token, b.token)
    end)

    it("answers XML when Accept is not JSON", function()
      local res = srv:request("GET", TOKEN_PATH, { ["X-Plex-Token"] = "test-admin-token" })
      assert.equal(200, res.status)
      assert.matches("^text/xml", res.headers["content-type"])
      assert.matches('<MediaContainer size="0" token="transient%-[^"]+"/>', res.body)
    end)

    it("rejects a wrong type or scope with 400", function()
      assert.equal(400, srv:request("GET", "/security/token?type=other&scope=all", JSON).status)
      assert.equal(400, srv:request("GET", "/security/token", JSON).status)
    end)

    it("answers 401 in HTML for a missing or wrong token", function()
      for _, h in ipairs({ { Accept = "application/json" }, with(JSON, { ["X-Plex-Token"] = "nope" }) }) do
        local res = srv:request("GET", TOKEN_PATH, h)
        assert.equal(401, res.status)
        assert.equal("text/html", res.headers["content-type"])
        assert.equal("<html><head><title>Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>",
                     res.body)
      end
    end)

    it("accepts the token given to start", function()
      local other = fake.start{ token = "other-token", machine_id = "m-42" }
      local res = other:request("GET", TOKEN_PATH, with(JSON, { ["X-Plex-Token"] = "other-token" }))
      assert.equal(200, res.status)
      assert.equal(401, other:request("GET", TOKEN_PATH, JSON).status)
      local id = cjson.decode(other:request("GET", "/identity", JSON).body)
      assert.equal("m-42", id.MediaContainer.machineIdentifier)
      other:stop()
      assert.is_false(other:running())
    end)

    it("GET /security/resources echoes the decoded source and lists connections", function()
      local source = "server://é ü/a b&c=d#e?f+g/%41"
      local res = srv:request("GET", "/security/resources?source=" .. pct(source), JSON)
      assert.equal(200, res.status)
      local mc = cjson.decode(res.body).MediaContainer
      assert.equal(source, mc.source)
      local dev = mc.Device[1]
      assert.equal(source, dev.source)
      assert.equal("device-access-token", dev.accessToken)
      assert.equal(3, #dev.Connection)
      assert.same({ true, false, false }, { dev.Connection[1]["local"], dev.Connection[2]["local"],
                                            dev.Connection[3]["local"] })
      assert.is_true(dev.Connection[3].relay)
      assert.matches("^https://127%-0%-0%-1%.%x+%.plex%.direct:32400$", dev.Connection[1].uri)
      assert.equal("source=" .. pct(source), srv:log()[1].query)
    end)

    it("rejects an empty source with 400 and an unknown one with 404", function()
      assert.equal(400, srv:request("GET", "/security/resources?source=", JSON).status)
      assert.equal(400, srv:request("GET", "/security/resources", JSON).status)
      assert.equal(404, srv:request("GET", "/security/resources?source=nothing", JSON).status)
      assert.equal(404, srv:request("GET", "/security/resources?source=server%3A%2F%2Funknown", JSON).status)
      assert.equal(401, srv:request("GET", "/security/resources?source=server%3A%2F%2Fx", {}).status)
    end)

    it("answers 404 elsewhere", function()
      assert.equal(404, srv:request("GET", "/library/sections", JSON).status)
    end)
  end)

  describe("request log", function()
    it("records requests with conn_id, headers, query and body", function()
      local c = srv:connect()
      assert.equal(200, c:request("GET", TOKEN_PATH, with(JSON, { ["X-Dup"] = "a" })).status)
      c:send("POST /other?x=1 HTTP/1.1\r\nHost: h\r\nX-Dup: a\r\nx-dup: b\r\nContent-Length: 5\r\n\r\nhello")
      assert.equal(404, c:read_response().status)
      c:close()
      srv:request("GET", "/identity")
      local log = srv:log()
      assert.equal(3, #log)
      assert.equal("GET", log[1].method)
      assert.equal("/security/token", log[1].path)
      assert.equal("type=delegation&scope=all", log[1].query)
      assert.equal("test-admin-token", log[1].headers["x-plex-token"])
      assert.equal("POST", log[2].method)
      assert.equal("hello", log[2].body)
      assert.equal("a, b", log[2].headers["x-dup"])
      assert.equal(log[1].conn_id, log[2].conn_id)
      assert.is_true(log[3].conn_id > log[2].conn_id)
      assert.is_true(log[2].time >= log[1].time)
    end)

    it("answers Expect: 100-continue and HEAD", function()
      local c = srv:connect()
      c:send("POST /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
      assert.equal(100, c:read_response().status)
      c:send("abc")
      assert.equal(404, c:read_response().status)
      local head = c:request("HEAD", "/identity", JSON)
      assert.same({ 200, "" }, { head.status, head.body })
      assert.equal(200, c:request("GET", "/identity", JSON).status)
      c:close()
      assert.equal("abc", srv:log()[1].body)
    end)

    it("does not record control requests; reset clears it", function()
      srv:request("GET", "/identity")
      srv:log()
      assert.equal(1, #srv:log())
      srv:reset()
      assert.same({}, srv:log())
    end)

    it("honours Connection: close", function()
      local c = srv:connect()
      local res = c:request("GET", "/identity", { Connection = "close" })
      assert.equal("close", res.headers["connection"])
      local line, err = c.sock:receive("*l")
      assert.is_nil(line)
      assert.equal("closed", err)
      c:close()
    end)

    it("survives malformed requests", function()
      for _, raw in ipairs({ "garbage\r\n\r\n", "GET / HTTP/1.1\r\nno colon\r\n\r\n",
                             "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", "\0\1\2\r\n\r\n" }) do
        local c = srv:connect()
        c:send(raw)
        local res = c:read_response()
        assert.equal(400, res.status)
        c:close()
      end
      local c = srv:connect()
      c:send("GET /ident")   -- then hang up mid-request
      c:close()
      assert.equal(200, srv:request("GET", "/identity").status)
    end)
  end)

  describe("scripted behaviours", function()
    it("are consumed in order, then normal answers resume", function()
      srv:script{ { status = 500, body = "boom", content_type = "text/plain" },
                  { status = 429, headers = { ["Retry-After"] = "1" } } }
      local a = srv:request("GET", TOKEN_PATH, JSON)
      assert.same({ 500, "boom", "text/plain" }, { a.status, a.body, a.headers["content-type"] })
      local b = srv:request("GET", TOKEN_PATH, JSON)
      assert.same({ 429, "1" }, { b.status, b.headers["retry-after"] })
      assert.equal(200, srv:request("GET", TOKEN_PATH, JSON).status)
    end)

    it("repeat makes a behaviour sticky", function()
      srv:script{ { status = 503, ["repeat"] = 2 } }
      assert.equal(503, srv:request("GET", "/identity").status)
      assert.equal(503, srv:request("GET", "/identity").status)
      assert.equal(200, srv:request("GET", "/identity").status)
    end)

    it("keeps the normal body for a bare 2xx status, and adds headers", function()
      srv:script{ { status = 203, headers = { ["X-Extra"] = "1" } } }
      local res = srv:request("GET", "/identity", JSON)
      assert.same({ 203, "1" }, { res.status, res.headers["x-extra"] })
      assert.equal("fake-pms-machine-id", cjson.decode(res.body).MediaContainer.machineIdentifier)
    end)

    it("gives a JSON 401", function()
      srv:script{ { status = 401, json = true } }
      local res = srv:request("GET", TOKEN_PATH, JSON)
      assert.equal(401, res.status)
      assert.equal("application/json", res.headers["content-type"])
      assert.same({ errors = { { code = 1001, message = "User could not be authenticated", status = 401 } } },
                  cjson.decode(res.body))
    end)

    it("gives bodies that are not JSON", function()
      srv:script{ { status = 200, body = "{bad json", content_type = "application/json" } }
      local res = srv:request("GET", TOKEN_PATH, JSON)
      assert.same({ 200, "{bad json", "application/json" }, { res.status, res.body, res.headers["content-type"] })
    end)

    it("closes without answering, or sends garbage", function()
      srv:script{ { close = true }, { garbage = true } }
      local res, err = srv:request("GET", "/identity")
      assert.is_nil(res)
      assert.equal("closed", err)
      res, err = srv:request("GET", "/identity")
      assert.is_nil(res)
      assert.matches("bad status line", err)
    end)

    it("truncates the body", function()
      srv:script{ { truncate = true } }
      local res, err = srv:request("GET", "/identity", JSON)
      assert.is_nil(res)
      assert.equal("closed", err)
    end)

    it("sends big bodies, with Content-Length or chunked", function()
      srv:script{ { big = 100000 }, { big = 100000, chunked = true } }
      local a = srv:request("GET", "/identity")
      assert.equal(100000, #a.body)
      assert.equal("100000", a.headers["content-length"])
      assert.equal("x", cjson.decode(a.body).pad:sub(1, 1))
      local b = srv:request("GET", "/identity")
      assert.equal(100000, #b.body)
      assert.equal("chunked", b.headers["transfer-encoding"])
      assert.is_nil(b.headers["content-length"])
    end)

    it("sends nested arrays, redirects, missing tokens and raw device JSON", function()
      local raw = '{"size":1,"Device":{"name":"d","Connection":{"port":"32400","local":"1"}}}'
      srv:script{ { nested = 5 }, { redirect = "http://127.0.0.2:1/security/token", status = 302 },
                  { token_missing = true }, { device_json = raw },
                  { device_json = { Device = { { name = "t" } } } } }
      assert.equal("[[[[[]]]]]", srv:request("GET", "/identity").body)
      local r = srv:request("GET", TOKEN_PATH, JSON)
      assert.same({ 302, "http://127.0.0.2:1/security/token" }, { r.status, r.headers["location"] })
      assert.same({ MediaContainer = { size = 0 } }, cjson.decode(srv:request("GET", TOKEN_PATH, JSON).body))
      assert.equal('{"MediaContainer":' .. raw .. "}", srv:request("GET", "/security/resources", JSON).body)
      assert.equal("t", cjson.decode(srv:request("GET", "/x", JSON).body).MediaContainer.Device[1].name)
    end)

    it("delays one connection without blocking another", function()
      srv:script{ { delay = 1 } }
      local slow = srv:connect()
      slow:send("GET /identity HTTP/1.1\r\nHost: x\r\n\r\n")
      socket.sleep(0.1)  -- let the server take the scripted behaviour for this request
      local t0 = socket.gettime()
      assert.equal(200, srv:request("GET", "/identity").status)
      assert.is_true(socket.gettime() - t0 < 0.5)
      assert.equal(200, slow:read_response().status)
      assert.is_true(socket.gettime() - t0 >= 0.8)
      slow:close()
    end)

    it("drips the body one byte per interval", function()
      srv:script{ { drip = true, interval = 0.1, status = 200, body = "abcde" } }
      local t0 = socket.gettime()
      local res = srv:request("GET", "/identity")
      assert.equal("abcde", res.body)
      assert.is_true(socket.gettime() - t0 >= 0.45)
    end)

    it("rejects a script that is not JSON", function()
      local res = srv:request("POST", "/_control/script", {}, "{nope")
      assert.equal(400, res.status)
    end)
  end)

  describe("processes", function()
    it("free_port gives a refused port", function()
      local port = fake.free_port()
      local s = socket.tcp()
      s:settimeout(2)
      local ok, err = s:connect("127.0.0.1", port)
      s:close()
      assert.is_nil(ok)
      assert.equal("connection refused", err)
    end)

    it("shuts down on POST /_control/shutdown", function()
      local other = fake.start()
      local pid = other.pid
      assert.equal(200, other:request("POST", "/_control/shutdown", {}, "").status)
      local deadline = socket.gettime() + 3
      while fake.alive(pid) and socket.gettime() < deadline do socket.sleep(0.05) end
      assert.is_false(fake.alive(pid))
      other:stop()
    end)

    it("exits when its parent process is gone", function()
      local p = io.popen("sleep 1 & echo $!")
      local parent = tonumber(p:read("*l"))
      p:close()
      local orphan = fake.start{ parent_pid = parent }
      local pid = orphan.pid
      local deadline = socket.gettime() + 5
      while fake.alive(pid) and socket.gettime() < deadline do socket.sleep(0.1) end
      assert.is_false(fake.alive(pid))
      orphan:stop()
    end)
  end)

  describe("over HTTPS", function()
    local dir, tls_srv

    setup(function()
      dir = os.tmpname()
      os.remove(dir)
      assert(os.execute("mkdir -p " .. dir))
      assert(os.execute("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost"
        .. " -addext subjectAltName=IP:127.0.0.1,DNS:localhost"
        .. " -keyout " .. dir .. "/key.pem -out " .. dir .. "/cert.pem 2>/dev/null"))
      tls_srv = fake.start{ tls_cert = dir .. "/cert.pem", tls_key = dir .. "/key.pem" }
    end)

    teardown(function()
      if tls_srv then tls_srv:stop() end
      os.execute("rm -rf " .. dir)
    end)

    it("serves the endpoints and control calls", function()
      assert.equal("https://127.0.0.1:" .. tls_srv.port, tls_srv.url)
      local c = tls_srv:connect{ cafile = dir .. "/cert.pem" }
      local res = c:request("GET", TOKEN_PATH, JSON)
      assert.equal(200, res.status)
      assert.matches("^transient%-", cjson.decode(res.body).MediaContainer.token)
      assert.equal(200, c:request("GET", "/identity", JSON).status)
      c:close()
      tls_srv:script{ { status = 503 } }
      assert.equal(503, tls_srv:request("GET", "/identity").status)
      local log = tls_srv:log()
      assert.equal(3, #log)
      assert.equal(log[1].conn_id, log[2].conn_id)
    end)

    it("keeps serving after a failed handshake", function()
      local c = fake.connect{ port = tls_srv.port }   -- plain text to a TLS port
      c:send("GET /identity HTTP/1.1\r\n\r\n")
      c.sock:receive("*a")
      c:close()
      assert.equal(200, tls_srv:request("GET", "/identity").status)
    end)
  end)
end)

describe("fake plex.tv (fake_pms.lua --plextv 1), raw", function()
  local srv
  setup(function() srv = fake.start{ plextv = true } end)
  teardown(function() srv:stop() end)
  before_each(function() srv:reset() end)

  local H = { ["X-Plex-Client-Identifier"] = "raw", Accept = "application/json" }

  it("wants a client identifier: 400 with code 1000", function()
    local r = srv:request("POST", "/api/v2/pins", { Accept = "application/json" }, "")
    assert.are.equal(400, r.status)
    assert.are.equal(1000, cjson.decode(r.body).errors[1].code)
  end)

  it("makes a PIN (201), links it after link_after polls, forgets it when expired (404, 1020)", function()
    srv:plextv{ link_after = 2 }
    local r = srv:request("POST", "/api/v2/pins", H, "")
    assert.are.equal(201, r.status)
    local pin = cjson.decode(r.body)
    assert.are.equal(cjson.null, pin.authToken)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", pin.expiresAt)
    assert.is_true(pin.expiresIn >= 899 and pin.expiresIn <= 900)
    local path = "/api/v2/pins/" .. string.format("%d", pin.id)
    assert.are.equal(cjson.null, cjson.decode(srv:request("GET", path, H).body).authToken)
    local linked = cjson.decode(srv:request("GET", "/api/v2/pins/" .. string.format("%d", pin.id), H).body)
    assert.are.equal("alice-token-1a2b3c4d", linked.authToken)
    srv:plextv{ expire_all = true }
    r = srv:request("GET", "/api/v2/pins/" .. string.format("%d", pin.id), H)
    assert.are.equal(404, r.status)
    assert.are.equal(1020, cjson.decode(r.body).errors[1].code)
  end)

  it("signs in (201), asks bob for his code (401, 1029), echoes secrets when told", function()
    local form = { ["Content-Type"] = "application/x-www-form-urlencoded" }
    for k, v in pairs(H) do form[k] = v end
    local r = srv:request("POST", "/api/v2/users/signin", form, "login=alice&password=alice-password")
    assert.are.equal(201, r.status)
    assert.are.equal("alice-token-1a2b3c4d", cjson.decode(r.body).authToken)
    r = srv:request("POST", "/api/v2/users/signin", form, "login=bob&password=bob-password")
    assert.are.equal(1029, cjson.decode(r.body).errors[1].code)
    srv:plextv{ echo = true }
    r = srv:request("POST", "/api/v2/users/signin", form, "login=bob&password=zz&verificationCode=1")
    assert.are.equal(401, r.status)
    assert.are.equal("zz", cjson.decode(r.body).errors[1].password)
  end)

  it("answers resources as an array, 401 without a token and 422 XML once revoked", function()
    local auth = { ["X-Plex-Token"] = "alice-token-1a2b3c4d" }
    for k, v in pairs(H) do auth[k] = v end
    local r = srv:request("GET", "/api/v2/resources?includeHttps=1", auth)
    assert.are.equal(200, r.status)
    assert.are.equal(3, #cjson.decode(r.body))
    assert.are.equal(401, srv:request("GET", "/api/v2/user", H).status)
    srv:plextv{ revoke = "alice-token-1a2b3c4d" }
    r = srv:request("GET", "/api/v2/user", auth)
    assert.are.equal(422, r.status)
    assert.matches("<errors>", r.body)
  end)
end)
