-- Fault injection: a misbehaving server must give the exact error of the
-- contract, never hang past `timeout`, and never send the token elsewhere.
local socket = require("socket")
local fake = require("spec.support.fake")
local plexauth = require("plexauth")
local core = require("plexauth.core")
local errors = plexauth.errors
local util = require("spec.support.util")

-- Upper bound allowed beyond `timeout` (memcheck runs set it higher).
local SLACK = tonumber(os.getenv("PLEXAUTH_SPEC_SLACK")) or 1

describe("faults", function()
  local srv

  setup(function() srv = fake.start() end)
  teardown(function() fake.stop_all() end)
  before_each(function() srv:reset() end)

  local function client(opts)
    local o = { server_url = srv.url, token = srv.token, timeout = 1, retries = false }
    for k, v in pairs(opts or {}) do o[k] = v end
    return plexauth.new(o)
  end

  -- Runs fn(c) on a fresh client, expects it to raise; returns the error
  -- after checking it came within timeout + SLACK seconds.
  local function failure(opts, fn)
    local c = client(opts)
    local timeout = c._settings.transport.timeout
    local t0 = core.now()
    local ok, err = pcall(fn or function() return c:get_transient_token() end, c)
    local elapsed = core.now() - t0
    c:close()
    assert.is_false(ok, "the call succeeded")
    assert.is_true(errors.is(err, errors.Error), "not a plexauth error: " .. tostring(err))
    assert.is_true(elapsed < timeout + SLACK,
      string.format("returned after %.2f s (timeout %g s)", elapsed, timeout))
    return err
  end

  local function transport(reason, curl_code, err)
    assert.is_true(errors.is(err, errors.TransportError), tostring(err))
    assert.equal("transport", err.kind)
    assert.equal(reason, err.reason)
    assert.equal("number", type(err.curl_code))
    assert.equal(math.floor(err.curl_code), err.curl_code)
    if curl_code then assert.equal(curl_code, err.curl_code) end
    assert.equal(1, err.attempts)
    assert.equal("getTransientToken", err.operation)
  end

  describe("transport", function()
    it("an answer slower than timeout is reason timeout", function()
      srv:script{ { delay = 3 } }
      transport("timeout", 28, failure())
    end)

    it("a body dripped past the timeout is reason timeout", function()
      srv:script{ { drip = true, interval = 0.05, content_type = "application/json",
                    body = '{"MediaContainer":{"token":"' .. string.rep("x", 100) .. '"}}' } }
      local err = failure()
      transport("timeout", 28, err)
    end)

    it("a body cut short of Content-Length is reason protocol", function()
      srv:script{ { truncate = true } }
      transport("protocol", 18, failure())
    end)

    it("a chunked body cut before the last chunk is reason protocol", function()
      srv:script{ { truncate = true, chunked = true, big = 4000 } }
      transport("protocol", 18, failure())
    end)

    it("non-HTTP bytes are reason protocol", function()
      srv:script{ { garbage = true } }
      transport("protocol", nil, failure())
    end)

    it("a connection closed without an answer is reason protocol", function()
      srv:script{ { close = true } }
      transport("protocol", 52, failure())
    end)

    it("a closed port is reason connect", function()
      local err = failure{ server_url = "http://127.0.0.1:" .. fake.free_port() }
      transport("connect", 7, err)
    end)

    it("an unresolvable host is reason resolve (in a loopback-only network namespace)", function()
      -- Outside a namespace the lookup would send a DNS query off the machine.
      if not util.have_netns() then
        pending("cannot make a network namespace (unshare -n)")
        return
      end
      local dir = util.tmpdir()
      local out = util.run_isolated(dir, [[
        local plexauth = require("plexauth")
        local core = require("plexauth.core")
        local c = plexauth.new{ server_url = "http://nonexistent.invalid:1", token = ...,
                                timeout = 1, retries = false }
        local t0 = core.now()
        local ok, e = pcall(c.get_transient_token, c)
        print("ok=" .. tostring(ok), "kind=" .. tostring(e.kind), "reason=" .. tostring(e.reason),
              "code=" .. tostring(e.curl_code), ("elapsed=%.3f"):format(core.now() - t0))
        print("text=" .. tostring(e))
      ]], "secret-token-5150")
      os.execute("rm -rf " .. util.q(dir))
      assert.matches("ok=false\tkind=transport\treason=resolve\tcode=6\t", out)
      local elapsed = tonumber(out:match("elapsed=([%d.]+)"))
      assert.is_true(elapsed ~= nil and elapsed < 1 + SLACK, out)
      assert.matches("text=plexauth: transport: ", out)
      assert.is_nil(out:find("secret-token-5150", 1, true))
    end)

    it("a body over max_response_bytes with Content-Length is reason too_large", function()
      srv:script{ { big = 5000 } }
      local err = failure{ max_response_bytes = 4096 }
      transport("too_large", nil, err)
    end)

    it("a chunked body over max_response_bytes is reason too_large", function()
      srv:script{ { big = 5000, chunked = true } }
      local err = failure{ max_response_bytes = 4096 }
      transport("too_large", nil, err)
      assert.equal(srv.host .. ":" .. srv.port .. ": response larger than 4096 bytes", err.message)
    end)

    it("a huge chunked body is cut at the limit and the client stays usable", function()
      local function rss()
        local f = assert(io.open("/proc/self/statm"))
        local pages = tonumber(f:read("*a"):match("^%d+%s+(%d+)"))
        f:close()
        return pages * 4096
      end
      srv:script{ { big = 16 * 1024 * 1024, chunked = true } }
      local c = client{ max_response_bytes = 65536, timeout = 10 }
      local before = rss()
      local ok, err = pcall(c.get_transient_token, c)
      assert.is_false(ok)
      assert.equal("too_large", err.reason)
      -- Far less than the 16 MiB sent stayed in memory.
      assert.is_true(rss() - before < 4 * 1024 * 1024, "RSS grew by " .. (rss() - before))
      local res = c:get_transient_token()
      assert.matches("^transient%-", res.token)
      c:close()
    end)

    it("limits and timeouts far past any real value still work", function()
      for _, v in ipairs({ 1e300, math.maxinteger or 2^53, 2^63, 2^53, 2^40, 2^32 + 1 }) do
        local c = client{ max_response_bytes = v, timeout = 1e300, connect_timeout = 1e300 }
        assert.matches("^transient%-", c:get_transient_token().token)
        c:close()
      end
    end)

    it("a body exactly at max_response_bytes is accepted", function()
      srv:script{ { big = 4096 } }
      local c = client{ max_response_bytes = 4096 }
      local res = c:request{ path = "/security/token" }
      assert.equal(4096, #res.body)
      c:close()
    end)
  end)

  describe("bodies", function()
    local function decode(err)
      assert.is_true(errors.is(err, errors.DecodeError), tostring(err))
      assert.equal("decode", err.kind)
      assert.equal(200, err.status_code)
      assert.equal("getTransientToken", err.operation)
      return err
    end

    it("JSON nested 100 000 levels deep is a DecodeError", function()
      srv:script{ { nested = 100000 } }
      local err = decode(failure())
      assert.equal(200000, #err.body)
    end)

    it("JSON nested 100 000 levels deep through request is a Response without object", function()
      srv:script{ { nested = 100000 } }
      local c = client()
      local res = c:request{ path = "/security/token" }
      assert.equal(200, res.status_code)
      assert.is_nil(res.object)
      c:close()
    end)

    it("truncated JSON is a DecodeError", function()
      srv:script{ { body = '{"MediaContainer":{"token":"abc', content_type = "application/json" } }
      local err = decode(failure())
      assert.equal("application/json", err.content_type)
    end)

    it("a non-JSON 2xx is a DecodeError", function()
      srv:script{ { body = "<MediaContainer token=\"x\"/>", content_type = "text/xml" } }
      decode(failure())
    end)

    it("a non-JSON 2xx labelled as JSON is a DecodeError", function()
      srv:script{ { body = "\0\1\2\255", content_type = "application/json" } }
      decode(failure())
    end)

    it("a 2xx without token is a DecodeError", function()
      srv:script{ { token_missing = true } }
      assert.matches("no token", decode(failure()).message)
    end)

    it("a 2xx source answer without Device is a DecodeError", function()
      srv:script{ { device_json = { size = 0 } } }
      local err = failure(nil, function(c)
        return c:get_source_connection_information("server://abc")
      end)
      assert.is_true(errors.is(err, errors.DecodeError), tostring(err))
    end)
  end)

  describe("statuses", function()
    it("401 with an HTML body is Unauthorized with no errors", function()
      srv:script{ { status = 401 } }
      local err = failure()
      assert.is_true(errors.is(err, errors.Unauthorized), tostring(err))
      assert.is_true(errors.is(err, errors.APIError))
      assert.equal("unauthorized", err.kind)
      assert.equal(401, err.status_code)
      assert.equal("text/html", err.content_type)
      assert.same({}, err.errors)
    end)

    it("401 with a JSON body is Unauthorized with its errors", function()
      srv:script{ { status = 401, json = true } }
      local err = failure()
      assert.is_true(errors.is(err, errors.Unauthorized), tostring(err))
      assert.equal(401, err.status_code)
      assert.same({ { code = 1001, message = "User could not be authenticated", status = 401 } },
                  err.errors)
    end)

    it("a wrong token is Unauthorized", function()
      local err = failure{ token = "not-the-token" }
      assert.is_true(errors.is(err, errors.Unauthorized), tostring(err))
    end)

    it("500 is an APIError", function()
      srv:script{ { status = 500 } }
      local err = failure()
      assert.is_true(errors.is(err, errors.APIError), tostring(err))
      assert.is_false(errors.is(err, errors.Unauthorized))
      assert.equal(500, err.status_code)
    end)
  end)

  describe("redirects", function()
    local other

    before_each(function()
      other = assert(socket.bind("127.0.0.2", 0))
      other:settimeout(0)
    end)
    after_each(function() other:close() end)

    local function target()
      local _, port = other:getsockname()
      return "http://127.0.0.2:" .. port
    end

    -- Nothing connected to the other listener: no pending connection.
    local function nothing_arrived()
      socket.sleep(0.2)
      local c = other:accept()
      if c then c:close() end
      assert.is_nil(c, "a connection arrived at 127.0.0.2")
    end

    for _, status in ipairs({ 301, 302, 303, 307, 308 }) do
      it(status .. " to another loopback host is an APIError and nothing goes there", function()
        local to = target() .. "/security/token?type=delegation&scope=all"
        srv:script{ { redirect = to, status = status } }
        local err = failure()
        assert.is_true(errors.is(err, errors.APIError), tostring(err))
        assert.equal(status, err.status_code)
        assert.equal(to, err.headers.location)
        nothing_arrived()
        assert.equal(1, #srv:log())
      end)
    end

    it("a redirect answer to request is an APIError too", function()
      srv:script{ { redirect = target() .. "/" } }
      local err = failure(nil, function(c) return c:request{ path = "/identity" } end)
      assert.equal(302, err.status_code)
      nothing_arrived()
    end)
  end)
end)
