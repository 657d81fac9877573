-- Error classes, their fields, errors.is and tostring, each raised by a
-- real exchange with the fake PMS (or a closed port).
local plexauth = require("plexauth")
local errors = plexauth.errors
local fake = require("spec.support.fake")
local util = require("spec.support.util")

local TOKEN = "secret-token-4f9a"

local function catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  assert.is_table(err, "errors are tables, got " .. type(err) .. ": " .. tostring(err))
  return err
end

local function raises(cls, fn, ...)
  local err = catch(fn, ...)
  assert.is_true(errors.is(err, cls), "expected " .. cls.name .. ", got " .. tostring(err))
  assert.is_true(errors.is(err, errors.Error))
  assert.is_true(errors.is(err))
  return err
end

local is_integer = util.is_integer

-- tostring is "plexauth: <kind>: <message> (at <caller's file:line>)" and
-- leaks no token.
local function check_string(err, kind)
  local s = tostring(err)
  assert.matches("^spec/errors_spec%.lua:%d+$", err.where)
  assert.equal("plexauth: " .. kind .. ": " .. tostring(err.message) .. " (at " .. err.where .. ")", s)
  assert.is_string(err.message)
  assert.is_true(#err.message > 0)
  assert.is_nil(s:find(TOKEN, 1, true), s)
end

describe("errors", function()
  local srv, c

  setup(function()
    srv = fake.start{ token = TOKEN }
    c = plexauth.new{ server_url = srv.url, token = TOKEN, retries = false }
  end)
  teardown(function()
    c:close()
    fake.stop_all()
  end)
  before_each(function() srv:reset() end)

  describe("ArgumentError", function()
    it("has kind 'argument' and is raised before any network activity", function()
      local e = raises(errors.ArgumentError, c.get_transient_token, c, "bogus")
      assert.equal("argument", e.kind)
      check_string(e, "argument")
      local e2 = raises(errors.ArgumentError, plexauth.new, { server_url = srv.url, nonsense = 1 })
      check_string(e2, "argument")
      assert.equal(0, #srv:log())
    end)

    it("does not reveal the token in the message of a bad header value", function()
      local e = raises(errors.ArgumentError, plexauth.new, { server_url = srv.url, token = TOKEN .. "\n" })
      check_string(e, "argument")
    end)
  end)

  describe("TransportError", function()
    it("has reason 'connect', curl_code and attempts for a closed port", function()
      local port = fake.free_port()
      local cl = plexauth.new{ server_url = "http://127.0.0.1:" .. port, token = TOKEN, retries = false }
      local e = raises(errors.TransportError, cl.get_transient_token, cl)
      cl:close()
      assert.equal("transport", e.kind)
      assert.equal("connect", e.reason)
      assert.is_true(is_integer(e.curl_code))
      assert.equal(7, e.curl_code)  -- CURLE_COULDNT_CONNECT
      assert.equal(1, e.attempts)
      assert.equal("getTransientToken", e.operation)
      check_string(e, "transport")
    end)

    it("names the operation", function()
      local cl = plexauth.new{ server_url = "http://127.0.0.1:" .. fake.free_port(), retries = false }
      assert.equal("getSourceConnectionInformation",
                   raises(errors.TransportError, cl.get_source_connection_information, cl, "server://a").operation)
      assert.equal("request", raises(errors.TransportError, cl.request, cl, { path = "/identity" }).operation)
      cl:close()
    end)

    it("has reason 'timeout' when an attempt outlives timeout", function()
      local cl = plexauth.new{ server_url = srv.url, token = TOKEN, retries = false, timeout = 0.3 }
      srv:script{ { delay = 3 } }
      local t0 = require("socket").gettime()
      local e = raises(errors.TransportError, cl.get_transient_token, cl)
      assert.is_true(require("socket").gettime() - t0 < 0.3 + 1)
      cl:close()
      assert.equal("timeout", e.reason)
      assert.is_true(is_integer(e.curl_code))
      check_string(e, "transport")
    end)

    it("has reason 'too_large' when the body exceeds max_response_bytes", function()
      local cl = plexauth.new{ server_url = srv.url, token = TOKEN, retries = false, max_response_bytes = 1000 }
      srv:script{ { big = 5000 } }
      local e = raises(errors.TransportError, cl.request, cl, { path = "/identity" })
      cl:close()
      assert.equal("too_large", e.reason)
      assert.is_true(is_integer(e.curl_code))
    end)
  end)

  it("errors.is raises ArgumentError for a class that is nil (misspelt) or not a class", function()
    local e = errors.new(errors.APIError, { message = "x" })
    assert.is_true(errors.is(e))
    assert.is_true(errors.is(e, errors.APIError))
    assert.is_false(errors.is(e, errors.Unauthorized))
    assert.is_false(errors.is("x", errors.APIError))
    for _, bad in ipairs({ { nil }, { "APIError" }, { {} }, { e } }) do
      local ok, err = pcall(errors.is, e, bad[1])
      assert.is_false(ok)
      assert.is_true(errors.is(err, errors.ArgumentError), tostring(err))
    end
    assert.is_nil(errors.Unauthorised)
  end)

  describe("APIError", function()
    it("for a 500 has status_code, content_type, headers, body, attempts, operation", function()
      srv:script{ { status = 500 } }
      local e = raises(errors.APIError, c.get_transient_token, c)
      assert.equal("api", e.kind)
      assert.is_false(errors.is(e, errors.Unauthorized))
      assert.equal(500, e.status_code)
      assert.is_true(is_integer(e.status_code))
      assert.equal("text/html", e.content_type)
      assert.is_table(e.headers)
      assert.equal("text/html", e.headers["content-type"])
      assert.is_truthy(e.body:find("500 Internal Server Error", 1, true))
      assert.equal(1, e.attempts)
      assert.equal("getTransientToken", e.operation)
      check_string(e, "api")
      assert.is_truthy(tostring(e):find("500", 1, true))
    end)

    it("for a 404 from get_source_connection_information", function()
      local e = raises(errors.APIError, c.get_source_connection_information, c, "server://unknown-machine")
      assert.equal(404, e.status_code)
      assert.equal("getSourceConnectionInformation", e.operation)
      check_string(e, "api")
    end)

    it("keeps a JSON error body", function()
      srv:script{ { status = 503, json = true } }
      local e = raises(errors.APIError, c.get_transient_token, c)
      assert.equal(503, e.status_code)
      assert.equal("application/json", e.content_type)
      assert.is_truthy(e.body:find('"code":503', 1, true))
    end)
  end)

  describe("Unauthorized", function()
    it("for PMS's HTML 401 has errors = {} and is an APIError", function()
      local bad = plexauth.new{ server_url = srv.url, token = "wrong-token", retries = false }
      local e = raises(errors.Unauthorized, bad.get_transient_token, bad)
      bad:close()
      assert.is_true(errors.is(e, errors.APIError))
      assert.equal("unauthorized", e.kind)
      assert.equal(401, e.status_code)
      assert.equal("text/html", e.content_type)
      assert.is_truthy(e.body:find("401", 1, true))
      assert.same({}, e.errors)
      assert.equal(1, e.attempts)
      assert.is_table(e.headers)
      check_string(e, "unauthorized")
    end)

    it("for a JSON 401 lists errors {code=, message=, status=}", function()
      srv:script{ { status = 401, json = true } }
      local e = raises(errors.Unauthorized, c.get_source_connection_information, c, "server://abc")
      assert.equal("application/json", e.content_type)
      assert.same({ { code = 1001, message = "User could not be authenticated", status = 401 } }, e.errors)
      assert.equal("getSourceConnectionInformation", e.operation)
      check_string(e, "unauthorized")
    end)

    it("for a 401 to client:request", function()
      local anon = plexauth.new{ server_url = srv.url, retries = false }
      local e = raises(errors.Unauthorized, anon.request, anon, { path = "/security/token" })
      anon:close()
      assert.same({}, e.errors)
      assert.equal("request", e.operation)
    end)
  end)

  describe("DecodeError", function()
    local cases = {
      { "a 2xx body that is not JSON", { status = 200, body = "hello", content_type = "text/plain" },
        "text/plain", "hello" },
      { "invalid JSON", { status = 200, body = "{\"MediaContainer\":", content_type = "application/json" },
        "application/json", "{\"MediaContainer\":" },
      { "a missing token", { token_missing = true }, "application/json", nil },
      { "a missing MediaContainer", { status = 200, body = "{\"token\":\"x\"}", content_type = "application/json" },
        "application/json", "{\"token\":\"x\"}" },
      { "a MediaContainer that is not an object", { status = 200, body = "{\"MediaContainer\":\"x\"}",
        content_type = "application/json" }, "application/json", nil },
      { "a JSON array", { status = 200, body = "[1,2]", content_type = "application/json" },
        "application/json", "[1,2]" },
      { "an empty 200", { status = 200, body = "", content_type = "application/json" }, "application/json", "" },
      { "a non-string token", { status = 200, body = "{\"MediaContainer\":{\"token\":5}}",
        content_type = "application/json" }, "application/json", nil },
    }
    for _, case in ipairs(cases) do
      it("get_transient_token raises it for " .. case[1], function()
        srv:script{ case[2] }
        local e = raises(errors.DecodeError, c.get_transient_token, c)
        assert.equal("decode", e.kind)
        assert.equal(200, e.status_code)
        assert.equal(case[3], e.content_type)
        assert.is_string(e.body)
        if case[4] then assert.equal(case[4], e.body) end
        assert.equal("getTransientToken", e.operation)
        check_string(e, "decode")
      end)
    end

    it("get_source_connection_information raises it for a non-JSON 200", function()
      srv:script{ { status = 200, body = "<MediaContainer/>", content_type = "text/xml" } }
      local e = raises(errors.DecodeError, c.get_source_connection_information, c, "server://abc")
      assert.equal("text/xml", e.content_type)
      assert.equal("<MediaContainer/>", e.body)
      assert.equal("getSourceConnectionInformation", e.operation)
    end)

    it("get_source_connection_information raises it for a missing MediaContainer", function()
      srv:script{ { status = 200, body = "{}", content_type = "application/json" } }
      raises(errors.DecodeError, c.get_source_connection_information, c, "server://abc")
    end)

    it("is never retried", function()
      local cl = plexauth.new{ server_url = srv.url, token = TOKEN,
                               retries = { initial_interval = 0.01, status_codes = { 200 } } }
      srv:script{ { token_missing = true, ["repeat"] = 3 } }
      raises(errors.DecodeError, cl.get_transient_token, cl)
      cl:close()
      assert.equal(1, #srv:log())
    end)
  end)

  describe("errors.is", function()
    local classes = { "Error", "ArgumentError", "TransportError", "APIError", "Unauthorized", "DecodeError" }

    it("follows the class chain", function()
      srv:script{ { status = 401 } }
      local u = catch(c.get_transient_token, c)
      assert.is_true(errors.is(u, errors.Unauthorized))
      assert.is_true(errors.is(u, errors.APIError))
      assert.is_true(errors.is(u, errors.Error))
      assert.is_false(errors.is(u, errors.DecodeError))
      assert.is_false(errors.is(u, errors.TransportError))
      assert.is_false(errors.is(u, errors.ArgumentError))

      srv:script{ { status = 500 } }
      local a = catch(c.get_transient_token, c)
      assert.is_true(errors.is(a, errors.APIError))
      assert.is_false(errors.is(a, errors.Unauthorized))
    end)

    it("each class's kind", function()
      local kinds = { ArgumentError = "argument", TransportError = "transport", APIError = "api",
                      Unauthorized = "unauthorized", DecodeError = "decode" }
      for name, kind in pairs(kinds) do assert.equal(kind, errors[name].kind, name) end
    end)

    it("is false for values that are not errors", function()
      local values = { nil, false, true, 0, 42, "plexauth: api: x", {}, { kind = "api" },
                       print, coroutine.create(function() end), plexauth.null,
                       setmetatable({}, { __index = errors.APIError }) }
      for i = 1, 12 do
        for _, name in ipairs(classes) do
          assert.is_false(errors.is(values[i], errors[name]), tostring(values[i]) .. " / " .. name)
        end
        assert.is_false(errors.is(values[i]))
      end
    end)

    it("is false for the classes themselves", function()
      for _, a in ipairs(classes) do
        for _, b in ipairs(classes) do assert.is_false(errors.is(errors[a], errors[b])) end
      end
    end)
  end)
end)
