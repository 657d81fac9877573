-- Error messages a user can act on: what went wrong, where, and what to
-- try; typed values; the caller's position; no secret anywhere.
local plexauth = require("plexauth")
local errors = plexauth.errors
local fake = require("spec.support.fake")
local util = require("spec.support.util")

local raises = util.raises

describe("error messages", function()
  local srv

  setup(function()
    srv = fake.start{}
  end)

  teardown(function()
    srv:stop()
  end)

  before_each(function() srv:reset() end)

  it("https to a plain-HTTP server names host and port and suggests http://", function()
    local c = plexauth.new{ server_url = "https://127.0.0.1:" .. srv.port, token = srv.token, retries = false }
    local e = raises(errors.TransportError, c.get_transient_token, c)
    assert.equal("tls", e.reason)
    assert.matches("127.0.0.1:" .. srv.port, e.message, 1, true)
    assert.matches("http://", e.message, 1, true)
    assert.matches("does not speak TLS", e.message, 1, true)
    c:close()
  end)

  it("says how many attempts ran and how long they took when retries ran", function()
    local port = fake.free_port()
    local c = plexauth.new{ server_url = "http://127.0.0.1:" .. port, retries = { initial_interval = 0.05 } }
    local e = raises(errors.TransportError, c.get_transient_token, c)
    assert.equal(3, e.attempts)
    assert.matches("%(after 3 attempts, %d+%.%d s%)$", e.message)
    assert.matches("127.0.0.1", e.message, 1, true)
    c:close()
    -- one attempt: nothing added
    c = plexauth.new{ server_url = "http://127.0.0.1:" .. port, retries = false }
    e = raises(errors.TransportError, c.get_transient_token, c)
    assert.is_nil(e.message:find("attempts", 1, true))
    c:close()
  end)

  it("shows the type of a bad value and quotes strings", function()
    local e = raises(errors.ArgumentError, plexauth.new, { timeout = "5" })
    assert.equal('timeout must be a number > 0 (got string "5")', e.message)
    e = raises(errors.ArgumentError, plexauth.new, { port = "32400" })
    assert.equal('port must be an integer 1-65535 (got string "32400")', e.message)
    e = raises(errors.ArgumentError, plexauth.new, { port = 70000 })
    assert.equal("port must be an integer 1-65535 (got number 70000)", e.message)
    e = raises(errors.ArgumentError, plexauth.new, { verify_tls = "yes" })
    assert.equal('verify_tls must be a boolean (got string "yes")', e.message)
  end)

  it("rejects unknown keys in every method's table argument", function()
    local c = plexauth.new{ server_url = srv.url, token = srv.token }
    local cases = {
      { c.get_transient_token, c, { typ = "delegation" }, "get_transient_token: unknown field typ" },
      { c.get_source_connection_information, c, { src = "server://x" },
        "get_source_connection_information: unknown field src" },
      { c.request, c, { path = "/identity", methd = "GET" }, "request: unknown field methd" },
      { c.connect_device, c, { connections = {} }, "unknown option bogus", { bogus = 1 } },
    }
    for _, k in ipairs(cases) do
      local e = raises(errors.ArgumentError, k[1], k[2], k[3], k[5])
      assert.equal(k[4], e.message)
    end
    local e = raises(errors.ArgumentError, plexauth.preferred_connections, { connections = {} }, { allow = true })
    assert.equal("preferred_connections: unknown field allow", e.message)
    local a = plexauth.account{ client_identifier = "messages-spec", plextv_url = "http://127.0.0.1:1" }
    local pin = { id = 1, expires_at = os.time() + 60 }
    local account_cases = {
      { a.create_pin, { strength = true }, "create_pin: unknown field strength" },
      { a.sign_in, { login = "x", password = "p", code = "1" }, "sign_in: unknown field code" },
      { a.resources, { https = true }, "resources: unknown field https" },
    }
    for _, k in ipairs(account_cases) do
      assert.equal(k[3], raises(errors.ArgumentError, k[1], a, k[2]).message)
    end
    assert.equal("wait_for_pin: unknown field every",
                 raises(errors.ArgumentError, a.wait_for_pin, a, pin, { every = 1 }).message)
    assert.equal(0, #srv:log())
    a:close()
    c:close()
  end)

  it("gives the caller's file and line, and tostring shows it", function()
    local ok, e = pcall(plexauth.new, { tokn = "x" }) -- the line of this pcall
    assert.is_false(ok)
    assert.matches("^spec/messages_spec%.lua:%d+$", e.where)
    assert.equal("plexauth: argument: unknown option tokn (at " .. e.where .. ")", tostring(e))
  end)

  it("an uncaught error names the script's line in the standalone interpreter", function()
    -- lua5.1's interpreter prints "(error object is not a string)" for any
    -- error table, whatever its __tostring; 5.2+ and LuaJIT call it.
    if _VERSION == "Lua 5.1" and not rawget(_G, "jit") then
      pending("lua5.1's interpreter does not call __tostring on errors")
      return
    end
    local dir = util.tmpdir()
    local script = dir .. "/oops.lua"
    util.write(script, "local plexauth = require('plexauth')\n\nplexauth.new{ tokn = 'x' }\n")
    local p = assert(io.popen(util.env_prefix() .. " " .. util.LUA .. " " .. util.q(script) .. " 2>&1"))
    local out = p:read("*a")
    p:close()
    os.execute("rm -rf " .. util.q(dir))
    assert.matches("plexauth: argument: unknown option tokn (at " .. script .. ":3)", out, 1, true)
  end)

  it("a 401 says whether the token was rejected or none was sent", function()
    local c = plexauth.new{ server_url = srv.url, token = "not-the-token", retries = false }
    local e = raises(errors.Unauthorized, c.get_transient_token, c)
    assert.equal("HTTP 401 from getTransientToken: the token was rejected (is it expired or revoked?)",
                 e.message)
    assert.is_nil(tostring(e):find("not-the-token", 1, true))
    c:close()
    c = plexauth.new{ server_url = srv.url, retries = false }
    e = raises(errors.Unauthorized, c.get_transient_token, c)
    assert.equal("HTTP 401 from getTransientToken: no token was sent (give the token option)", e.message)
    c:close()
  end)

  it("a timeout names host and port", function()
    srv:script{ { delay = 2 } }
    local c = plexauth.new{ server_url = srv.url, token = srv.token, timeout = 0.3, retries = false }
    local e = raises(errors.TransportError, c.get_transient_token, c)
    assert.equal("timeout", e.reason)
    assert.equal("127.0.0.1:" .. srv.port .. ": ", e.message:sub(1, #("127.0.0.1:" .. srv.port) + 2))
    c:close()
  end)
end)
