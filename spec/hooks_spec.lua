-- Hooks: before_request, after_success, after_error.
local plexauth = require("plexauth")
local errors = plexauth.errors
local fake = require("spec.support.fake")
local util = require("spec.support.util")

local FAST = { initial_interval = 0.01, max_interval = 0.05 }

local raises = util.raises

describe("hooks", function()
  local srv
  local clients = {}

  setup(function() srv = fake.start() end)
  teardown(function() fake.stop_all() end)
  before_each(function() srv:reset() end)
  after_each(function()
    for _, c in ipairs(clients) do c:close() end
    clients = {}
  end)

  -- A client whose hooks record every call as {hook, ctx, a, b}.
  local function recording(extra, hooks)
    local calls = {}
    local h = {
      before_request = function(ctx, req) calls[#calls + 1] = { "before_request", ctx, req } end,
      after_success = function(ctx, res) calls[#calls + 1] = { "after_success", ctx, res } end,
      after_error = function(ctx, res, err) calls[#calls + 1] = { "after_error", ctx, res, err } end,
    }
    for k, v in pairs(hooks or {}) do h[k] = v end
    local o = { server_url = srv.url, token = srv.token, retries = FAST, hooks = h }
    for k, v in pairs(extra or {}) do o[k] = v end
    local c = plexauth.new(o)
    clients[#clients + 1] = c
    return c, calls
  end

  local function names(calls)
    local t = {}
    for i, call in ipairs(calls) do t[i] = call[1] end
    return t
  end

  it("runs before_request and after_success once for a successful call", function()
    local c, calls = recording()
    local res = c:get_transient_token()
    assert.same({ "before_request", "after_success" }, names(calls))
    assert.equal(res, calls[2][3])
    assert.equal(calls[1][2], calls[2][2])  -- the same ctx for one attempt
  end)

  local ops = {
    { "getTransientToken", function(c) return c:get_transient_token() end },
    { "getSourceConnectionInformation", function(c) return c:get_source_connection_information("server://a") end },
    { "request", function(c) return c:request{ path = "/identity" } end },
  }
  for _, op in ipairs(ops) do
    it("gives ctx.operation = " .. op[1], function()
      local c, calls = recording()
      op[2](c)
      assert.equal(2, #calls)
      for _, call in ipairs(calls) do assert.equal(op[1], call[2].operation) end
    end)
  end

  it("runs once per attempt: 503, 503, 200", function()
    local c, calls = recording()
    srv:script{ { status = 503 }, { status = 503 } }
    c:get_transient_token()
    assert.same({ "before_request", "after_error", "before_request", "after_error",
                  "before_request", "after_success" }, names(calls))
    assert.equal(3, #srv:log())
    for _, i in ipairs({ 2, 4 }) do
      local res, err = calls[i][3], calls[i][4]
      assert.equal(503, res.status_code)
      assert.is_true(errors.is(err, errors.APIError))
      assert.equal(503, err.status_code)
    end
  end)

  it("after_error gets nil for the response on a transport error", function()
    local c, calls = recording({ server_url = "http://127.0.0.1:" .. fake.free_port(), retries = false })
    local e = raises(errors.TransportError, c.get_transient_token, c)
    assert.same({ "before_request", "after_error" }, names(calls))
    assert.is_nil(calls[2][3])
    assert.equal(e, calls[2][4])
  end)

  it("after_error gets the error the caller receives", function()
    local c, calls = recording({ retries = false })
    srv:script{ { status = 500 } }
    local e = raises(errors.APIError, c.get_transient_token, c)
    assert.equal(e, calls[2][4])
    assert.equal(500, calls[2][3].status_code)
  end)

  it("before_request gets method, the full url without the token, and headers", function()
    local c, calls = recording({ product = "Prod" })
    c:get_source_connection_information("server://a b")
    local req = calls[1][3]
    assert.equal("GET", req.method)
    assert.equal(srv.url .. "/security/resources?source=server%3A%2F%2Fa%20b", req.url)
    assert.is_table(req.headers)
    assert.equal("Prod", req.headers["X-Plex-Product"])
    assert.equal("application/json", req.headers["Accept"])
    assert.is_nil(req.url:find(srv.token, 1, true))
  end)

  it("before_request can change and add headers, and the server sees them", function()
    local c = recording({ product = "Original" }, {
      before_request = function(_, req)
        req.headers["X-Plex-Product"] = "Changed"
        req.headers["X-Custom-Header"] = "custom value"
        req.headers["User-Agent"] = "hooked-agent/1"
      end,
    })
    c:get_transient_token()
    c:request{ path = "/identity" }
    for _, r in ipairs(srv:log()) do
      assert.equal("Changed", r.headers["x-plex-product"])
      assert.equal("custom value", r.headers["x-custom-header"])
      assert.equal("hooked-agent/1", r.headers["user-agent"])
      assert.equal(srv.token, r.headers["x-plex-token"])
      assert.equal("application/json", r.headers["accept"])
    end
  end)

  it("header names are case-insensitive: a hook's value replaces the header, never duplicates it", function()
    local c = recording({ product = "Original", user_agent = "ua/1" }, {
      before_request = function(_, req)
        req.headers["x-plex-product"] = "Changed"
        req.headers["user-agent"] = "hooked/2"
        req.headers["ACCEPT"] = "application/json, text/plain"
      end,
    })
    c:get_transient_token()
    local h = srv:log()[1].headers
    assert.equal("Changed", h["x-plex-product"])
    assert.equal("hooked/2", h["user-agent"])
    assert.equal("application/json, text/plain", h["accept"])
    assert.equal(srv.token, h["x-plex-token"])
  end)

  it("a hook may replace the token header (any case)", function()
    local c = recording({}, {
      before_request = function(_, req) req.headers["x-plex-token"] = "other-token" end,
    })
    raises(errors.Unauthorized, c.get_transient_token, c)
    assert.equal("other-token", srv:log()[1].headers["x-plex-token"])
  end)

  it("header changes apply to that attempt only", function()
    local n = 0
    local c = recording({}, {
      before_request = function(_, req)
        assert.is_nil(req.headers["X-Attempt"])  -- each attempt starts afresh
        n = n + 1
        req.headers["X-Attempt"] = tostring(n)
      end,
    })
    srv:script{ { status = 503 } }
    c:get_transient_token()
    c:get_transient_token()
    local log = srv:log()
    assert.equal(3, #log)
    assert.same({ "1", "2", "3" }, { log[1].headers["x-attempt"], log[2].headers["x-attempt"],
                                     log[3].headers["x-attempt"] })
  end)

  for name, value in pairs({ CR = "a\rb", LF = "a\nb", CRLF = "a\r\nX-Evil: 1", NUL = "a\0b" }) do
    it("raises ArgumentError for a header value with " .. name .. " and sends nothing", function()
      local c = recording({}, {
        before_request = function(_, req) req.headers["X-Plex-Product"] = value end,
      })
      raises(errors.ArgumentError, c.get_transient_token, c)
      assert.equal(0, #srv:log())
    end)
  end

  it("raises ArgumentError for a header value that is not a string", function()
    local c = recording({}, { before_request = function(_, req) req.headers["X-N"] = {} end })
    raises(errors.ArgumentError, c.get_transient_token, c)
    assert.equal(0, #srv:log())
  end)

  for _, hook in ipairs({ "before_request", "after_success", "after_error" }) do
    it("an error table raised in " .. hook .. " reaches the caller unchanged", function()
      local mine = { "my error" }
      local c = recording({ retries = false }, { [hook] = function() error(mine) end })
      if hook == "after_error" then srv:script{ { status = 500 } } end
      local ok, err = pcall(c.get_transient_token, c)
      assert.is_false(ok)
      assert.is_true(rawequal(mine, err))
    end)

    it("an error string raised in " .. hook .. " reaches the caller unchanged", function()
      local c = recording({ retries = false }, { [hook] = function() error("hook failed", 0) end })
      if hook == "after_error" then srv:script{ { status = 500 } } end
      local ok, err = pcall(c.get_transient_token, c)
      assert.is_false(ok)
      assert.equal("hook failed", err)
    end)
  end

  it("an error raised in before_request stops the call: no request, no retry", function()
    local n = 0
    local c = recording({}, { before_request = function() n = n + 1; error("stop", 0) end })
    local ok = pcall(c.get_transient_token, c)
    assert.is_false(ok)
    assert.equal(1, n)
    assert.equal(0, #srv:log())
  end)

  it("only some hooks may be given", function()
    local seen = 0
    local c = plexauth.new{ server_url = srv.url, token = srv.token,
                            hooks = { after_success = function() seen = seen + 1 end } }
    c:get_transient_token()
    c:close()
    assert.equal(1, seen)
  end)

  it("bad hooks raise ArgumentError from new", function()
    raises(errors.ArgumentError, plexauth.new, { hooks = { before_request = "x" } })
    raises(errors.ArgumentError, plexauth.new, { hooks = { on_request = function() end } })
    raises(errors.ArgumentError, plexauth.new, { hooks = function() end })
  end)
end)
