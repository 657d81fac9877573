-- The retries option: which outcomes are retried, how often, and Retry-After.
-- Intervals are tiny so the file stays fast.
local plexauth = require("plexauth")
local errors = plexauth.errors
local socket = require("socket")
local fake = require("spec.support.fake")
local util = require("spec.support.util")

local FAST = { initial_interval = 0.01, max_interval = 0.05 }

local raises = util.raises
local merge = util.merge

describe("retries", function()
  local srv

  setup(function() srv = fake.start() end)
  teardown(function() fake.stop_all() end)
  before_each(function() srv:reset() end)

  local clients = {}
  local function client(retries, extra)
    local c = plexauth.new(merge({ server_url = srv.url, token = srv.token, retries = retries }, extra))
    clients[#clients + 1] = c
    return c
  end
  after_each(function()
    for _, c in ipairs(clients) do c:close() end
    clients = {}
  end)

  it("503, 503, 200 succeeds on the third attempt", function()
    srv:script{ { status = 503 }, { status = 503 } }
    local res = client(FAST):get_transient_token()
    assert.equal(200, res.status_code)
    assert.is_string(res.token)
    local log = srv:log()
    assert.equal(3, #log)
    for _, r in ipairs(log) do assert.equal("/security/token", r.path) end
  end)

  for _, status in ipairs({ 429, 502, 503, 504 }) do
    it("retries " .. status .. " by default", function()
      srv:script{ { status = status } }
      assert.equal(200, client(FAST):get_source_connection_information("server://abc").status_code)
      assert.equal(2, #srv:log())
    end)
  end

  it("retries GET client:request too", function()
    srv:script{ { status = 502 } }
    assert.equal(200, client(FAST):request{ path = "/identity" }.status_code)
    assert.equal(2, #srv:log())
  end)

  it("retries HEAD", function()
    srv:script{ { status = 503 } }
    assert.equal(200, client(FAST):request{ method = "HEAD", path = "/identity" }.status_code)
    local log = srv:log()
    assert.equal(2, #log)
    assert.equal("HEAD", log[2].method)
  end)

  for _, m in ipairs({ "POST", "PUT", "DELETE" }) do
    it("never retries " .. m, function()
      srv:script{ { status = 503, ["repeat"] = 3 } }
      local c = client(FAST)
      local e = raises(errors.APIError, c.request, c, { method = m, path = "/x" })
      assert.equal(503, e.status_code)
      assert.equal(1, e.attempts)
      assert.equal(1, #srv:log())
    end)
  end

  it("never retries 401, even when listed in status_codes", function()
    srv:script{ { status = 401, ["repeat"] = 3 } }
    local c = client(FAST)
    local e = raises(errors.Unauthorized, c.get_transient_token, c)
    assert.equal(1, e.attempts)
    assert.equal(1, #srv:log())
    srv:reset()
    srv:script{ { status = 401, ["repeat"] = 3 } }
    c = client(merge(FAST, { status_codes = { 401, 503 } }))
    e = raises(errors.Unauthorized, c.get_transient_token, c)
    assert.equal(1, e.attempts)
    assert.equal(1, #srv:log())
  end)

  it("does not retry 500 by default", function()
    srv:script{ { status = 500, ["repeat"] = 3 } }
    local c = client(FAST)
    local e = raises(errors.APIError, c.get_transient_token, c)
    assert.equal(500, e.status_code)
    assert.equal(1, e.attempts)
    assert.equal(1, #srv:log())
  end)

  it("makes one attempt with retries = false", function()
    srv:script{ { status = 503, ["repeat"] = 3 } }
    local c = client(false)
    local e = raises(errors.APIError, c.get_transient_token, c)
    assert.equal(503, e.status_code)
    assert.equal(1, e.attempts)
    assert.equal(1, #srv:log())
  end)

  it("uses custom status_codes instead of the default list", function()
    local c = client(merge(FAST, { status_codes = { 500 } }))
    srv:script{ { status = 500 } }
    assert.equal(200, c:get_transient_token().status_code)
    assert.equal(2, #srv:log())
    srv:reset()
    srv:script{ { status = 503, ["repeat"] = 3 } }
    local e = raises(errors.APIError, c.get_transient_token, c)
    assert.equal(1, e.attempts)
    assert.equal(1, #srv:log())
  end)

  it("an empty status_codes list retries no status", function()
    srv:script{ { status = 503, ["repeat"] = 3 } }
    local c = client(merge(FAST, { status_codes = {} }))
    assert.equal(1, raises(errors.APIError, c.get_transient_token, c).attempts)
    assert.equal(1, #srv:log())
  end)

  it("gives up after max_attempts (default 3) with an APIError whose attempts = 3", function()
    srv:script{ { status = 503, ["repeat"] = 10 } }
    local c = client(FAST)
    local e = raises(errors.APIError, c.get_transient_token, c)
    assert.equal(503, e.status_code)
    assert.equal(3, e.attempts)
    assert.equal(3, #srv:log())
  end)

  it("honours a larger max_attempts", function()
    srv:script{ { status = 504, ["repeat"] = 4 } }
    local res = client(merge(FAST, { max_attempts = 5 })):get_transient_token()
    assert.equal(200, res.status_code)
    assert.equal(5, #srv:log())
  end)

  it("max_attempts = 1 means one attempt", function()
    srv:script{ { status = 503, ["repeat"] = 3 } }
    local c = client(merge(FAST, { max_attempts = 1 }))
    assert.equal(1, raises(errors.APIError, c.get_transient_token, c).attempts)
    assert.equal(1, #srv:log())
  end)

  it("merges a partial table with the defaults (max_attempts stays 3)", function()
    srv:script{ { status = 503, ["repeat"] = 10 } }
    local c = client({ initial_interval = 0.01 })
    assert.equal(3, raises(errors.APIError, c.get_transient_token, c).attempts)
    assert.equal(3, #srv:log())
  end)

  it("stops retrying once max_elapsed_time would be exceeded", function()
    srv:script{ { status = 503, ["repeat"] = 10 } }
    local c = client(merge(FAST, { max_elapsed_time = 0 }))
    assert.equal(1, raises(errors.APIError, c.get_transient_token, c).attempts)
    assert.equal(1, #srv:log())
  end)

  it("honours Retry-After (seconds) from a 429", function()
    srv:script{ { status = 429, headers = { ["Retry-After"] = "1" } } }
    local c = client({ initial_interval = 0.01, max_interval = 5 })
    local t0 = socket.gettime()
    assert.equal(200, c:get_transient_token().status_code)
    assert.is_true(socket.gettime() - t0 < 1 + 1.5)
    local log = srv:log()
    assert.equal(2, #log)
    -- With initial_interval 0.01 the second attempt would come at once
    -- without Retry-After; the server saw it about a second later.
    assert.is_true(log[2].time - log[1].time >= 0.9, "gap " .. (log[2].time - log[1].time))
  end)

  it("caps Retry-After at max_interval", function()
    srv:script{ { status = 503, headers = { ["Retry-After"] = "60" } } }
    local c = client({ initial_interval = 0.01, max_interval = 0.2 })
    local t0 = socket.gettime()
    assert.equal(200, c:get_transient_token().status_code)
    assert.is_true(socket.gettime() - t0 < 0.2 + 1)
    local log = srv:log()
    assert.equal(2, #log)
    assert.is_true(log[2].time - log[1].time >= 0.15, "gap " .. (log[2].time - log[1].time))
  end)

  it("backs off between attempts by about initial_interval * exponent^n (with jitter)", function()
    srv:script{ { status = 503, ["repeat"] = 2 } }
    local c = client({ initial_interval = 0.2, exponent = 2, max_interval = 5 })
    c:get_transient_token()
    local log = srv:log()
    assert.equal(3, #log)
    -- Jitter never waits longer than the full interval; allow 1 s of slack.
    assert.is_true(log[2].time - log[1].time < 0.2 + 1)
    assert.is_true(log[3].time - log[2].time < 0.4 + 1)
    assert.is_true(log[3].time - log[1].time >= 0.05)
  end)

  describe("connection errors", function()
    local function counting(retries)
      local n = 0
      local c = plexauth.new{
        server_url = "http://127.0.0.1:" .. fake.free_port(), token = "t", retries = retries,
        hooks = { before_request = function() n = n + 1 end },
      }
      clients[#clients + 1] = c
      return c, function() return n end
    end

    it("are retried by default (retry_connection_errors = true)", function()
      local c, count = counting(FAST)
      local e = raises(errors.TransportError, c.get_transient_token, c)
      assert.equal("connect", e.reason)
      assert.equal(3, e.attempts)
      assert.equal(3, count())
    end)

    it("are not retried with retry_connection_errors = false", function()
      local c, count = counting(merge(FAST, { retry_connection_errors = false }))
      local e = raises(errors.TransportError, c.get_transient_token, c)
      assert.equal("connect", e.reason)
      assert.equal(1, e.attempts)
      assert.equal(1, count())
    end)

    it("are not retried for POST", function()
      local c, count = counting(FAST)
      local e = raises(errors.TransportError, c.request, c, { method = "POST", path = "/x" })
      assert.equal(1, e.attempts)
      assert.equal(1, count())
    end)
  end)

  it("does not retry transport errors other than connect (a timeout)", function()
    srv:script{ { delay = 2, ["repeat"] = 3 } }
    local c = client(FAST, { timeout = 0.2 })
    local e = raises(errors.TransportError, c.get_transient_token, c)
    assert.equal("timeout", e.reason)
    assert.equal(1, e.attempts)
    assert.equal(1, #srv:log())
  end)

  it("succeeds on a later attempt after a retried 503 on the same connection", function()
    local c = client(FAST)
    srv:script{ { status = 503 } }
    c:get_transient_token()
    local log = srv:log()
    assert.equal(log[1].conn_id, log[2].conn_id)
  end)
end)
