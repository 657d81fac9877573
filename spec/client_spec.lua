-- Module fields, client lifetime (close, <close>, garbage collection) and
-- connection reuse, against the fake PMS over real TCP.
local plexauth = require("plexauth")
local errors = plexauth.errors
local fake = require("spec.support.fake")
local util = require("spec.support.util")

local raises = util.raises

-- Client-side TCP connections in state ESTABLISHED whose peer port is `port`
-- (from /proc/net/tcp and tcp6: the sockets the client holds open).
local function established_to(port)
  local n = 0
  for _, file in ipairs({ "/proc/net/tcp", "/proc/net/tcp6" }) do
    local f = io.open(file, "r")
    if f then
      for line in f:lines() do
        local rport, st = line:match("^%s*%d+: %x+:%x+ %x+:(%x+) (%x%x)")
        if rport and tonumber(rport, 16) == port and st == "01" then n = n + 1 end
      end
      f:close()
    end
  end
  return n
end

local function full_gc()
  for _ = 1, 3 do collectgarbage("collect") end
end

describe("plexauth module", function()
  it("has _VERSION 'plexauth X.Y.Z'", function()
    assert.is_string(plexauth._VERSION)
    assert.is_truthy(plexauth._VERSION:match("^plexauth %d+%.%d+%.%d+$"), plexauth._VERSION)
  end)

  it("exposes new, from_env, errors, null and preferred_connections", function()
    assert.is_function(plexauth.new)
    assert.is_function(plexauth.from_env)
    assert.is_function(plexauth.preferred_connections)
    assert.is_table(plexauth.errors)
    assert.is_function(plexauth.errors.is)
    for _, name in ipairs({ "Error", "ArgumentError", "TransportError", "APIError",
                            "Unauthorized", "DecodeError" }) do
      assert.is_table(plexauth.errors[name], name)
    end
  end)

  it("null is lua-cjson's null", function()
    assert.is_not_nil(plexauth.null)
    assert.equal(require("cjson").null, plexauth.null)
  end)
end)

describe("Client", function()
  local srv

  setup(function() srv = fake.start() end)
  teardown(function() fake.stop_all() end)
  before_each(function() srv:reset() end)

  local function client(extra)
    local o = { server_url = srv.url, token = srv.token, retries = false }
    for k, v in pairs(extra or {}) do o[k] = v end
    return plexauth.new(o)
  end

  it("reuses one connection for many calls (keep-alive)", function()
    local c = client()
    for _ = 1, 3 do assert.is_string(c:get_transient_token().token) end
    c:get_source_connection_information("server://abc")
    c:request{ path = "/identity" }
    raises(errors.APIError, c.request, c, { path = "/no/such/path" })  -- a 404 keeps it too
    c:get_transient_token()
    local log = srv:log()
    assert.equal(7, #log)
    for i = 2, #log do assert.equal(log[1].conn_id, log[i].conn_id) end
    c:close()
  end)

  it("separate clients use separate connections", function()
    local a, b = client(), client()
    a:get_transient_token()
    b:get_transient_token()
    local log = srv:log()
    assert.are_not.equal(log[1].conn_id, log[2].conn_id)
    a:close(); b:close()
  end)

  it("close releases the connection, is idempotent, and later calls raise ArgumentError", function()
    full_gc()
    local before = established_to(srv.port)
    local c = client()
    c:get_transient_token()
    assert.equal(before + 1, established_to(srv.port))
    assert.is_nil(c:close())
    assert.equal(before, established_to(srv.port))
    c:close()
    c:close()
    raises(errors.ArgumentError, c.get_transient_token, c)
    raises(errors.ArgumentError, c.get_source_connection_information, c, "server://abc")
    raises(errors.ArgumentError, c.request, c, { path = "/identity" })
    raises(errors.ArgumentError, c.connect_device, c, { connections = {} })
    assert.equal(1, #srv:log())  -- only the call before close reached the server
  end)

  it("methods called with '.' instead of ':' raise ArgumentError", function()
    local c = client()
    raises(errors.ArgumentError, c.get_transient_token)
    raises(errors.ArgumentError, c.get_transient_token, "delegation")
    raises(errors.ArgumentError, c.get_source_connection_information, "server://abc")
    raises(errors.ArgumentError, c.request, { path = "/identity" })
    assert.equal(0, #srv:log())
    c:close()
  end)

  it("is collected by the garbage collector, which releases the connection", function()
    full_gc()
    local before = established_to(srv.port)
    local c = client()
    c:get_transient_token()
    assert.equal(before + 1, established_to(srv.port))
    local weak = setmetatable({ c }, { __mode = "v" })
    c = nil  -- luacheck: ignore
    full_gc()
    assert.is_nil(weak[1])
    assert.equal(before, established_to(srv.port))
  end)

  it("is closed by <close> on Lua 5.4", function()
    if _VERSION ~= "Lua 5.4" then
      pending("<close> needs Lua 5.4")
      return
    end
    -- Loaded as text so that this file still parses on Lua 5.1-5.3.
    local chunk = assert((loadstring or load)([[
      local plexauth, url, token, counter, port = ...
      local kept, inside
      do
        local c <close> = plexauth.new{ server_url = url, token = token }
        kept = c
        c:get_transient_token()
        inside = counter(port)
      end
      return kept, inside
    ]]))
    full_gc()
    local before = established_to(srv.port)
    local kept, inside = chunk(plexauth, srv.url, srv.token, established_to, srv.port)
    assert.equal(before + 1, inside)
    assert.equal(before, established_to(srv.port))
    raises(errors.ArgumentError, kept.get_transient_token, kept)
    kept:close()  -- still idempotent
  end)

  it("a closed client does not close other clients", function()
    local a, b = client(), client()
    a:close()
    assert.is_string(b:get_transient_token().token)
    b:close()
  end)
end)
