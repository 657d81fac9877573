-- plexauth.from_env and the environment, run in a child process of the same interpreter
-- (with the same LUA_PATH/LUA_CPATH) that has exactly the PLEX_* variables set.
local plexauth = require("plexauth")
local errors = plexauth.errors
local fake = require("spec.support.fake")
local util = require("spec.support.util")

-- The child: builds a client with SPEC_CTOR(SPEC_OPTS), prints its base,
-- then (with SPEC_CALL) gets a token and prints the outcome.
local CHILD = [[
local plexauth = require("plexauth")
local opts = assert((loadstring or load)("return " .. os.getenv("SPEC_OPTS")))()
local ok, c = pcall(plexauth[os.getenv("SPEC_CTOR")], opts)
if not ok then
  print("new-error=" .. tostring(type(c) == "table" and c.kind or c))
  return
end
print("base=" .. c.base)
if os.getenv("SPEC_CALL") then
  local ok2, res = pcall(c.get_transient_token, c)
  print(ok2 and ("token=" .. res.token) or ("call-error=" .. tostring(type(res) == "table" and res.kind or res)))
end
c:close()
]]

describe("environment", function()
  local srv, script

  setup(function()
    srv = fake.start{ token = "env-token-77" }
    script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(CHILD)
    f:close()
  end)
  teardown(function()
    os.remove(script)
    fake.stop_all()
  end)
  before_each(function() srv:reset() end)

  -- Runs the child with `env` (name -> value; PLEX_* not listed are unset).
  -- Returns the printed key -> value map.
  local function child(ctor, opts_src, env, call)
    local vars = util.merge({ SPEC_CTOR = ctor, SPEC_OPTS = opts_src or "nil", SPEC_CALL = call and "1" or nil },
                            env)
    -- The interpreter running this spec, so the child loads the same build.
    local cmd = util.env_prefix(vars) .. " " .. util.LUA .. " " .. util.q(script) .. " 2>&1"
    local p = assert(io.popen(cmd, "r"))
    local out = p:read("*a")
    p:close()
    local t = {}
    for k, v in out:gmatch("([%w-]+)=([^\n]*)") do t[k] = v end
    t.raw = out
    return t
  end

  it("from_env takes server_url, token and client_identifier from PLEX_*", function()
    local r = child("from_env", nil, { PLEX_URL = srv.url .. "/", PLEX_TOKEN = srv.token,
                                       PLEX_CLIENT_IDENTIFIER = "env-cid" }, true)
    assert.equal(srv.url, r.base, r.raw)
    assert.is_truthy(r.token and r.token:match("^transient%-"), r.raw)
    local h = srv:log()[1].headers
    assert.equal(srv.token, h["x-plex-token"])
    assert.equal("env-cid", h["x-plex-client-identifier"])
  end)

  it("from_env accepts an empty opts table", function()
    local r = child("from_env", "{}", { PLEX_URL = srv.url, PLEX_TOKEN = srv.token }, true)
    assert.is_truthy(r.token, r.raw)
  end)

  it("options in opts win over PLEX_TOKEN and PLEX_CLIENT_IDENTIFIER", function()
    local r = child("from_env", "{ token = 'opt-token', client_identifier = 'opt-cid' }",
                    { PLEX_URL = srv.url, PLEX_TOKEN = srv.token, PLEX_CLIENT_IDENTIFIER = "env-cid" }, true)
    assert.equal("unauthorized", r["call-error"], r.raw)
    local h = srv:log()[1].headers
    assert.equal("opt-token", h["x-plex-token"])
    assert.equal("opt-cid", h["x-plex-client-identifier"])
  end)

  it("opts.server_url wins over PLEX_URL", function()
    local closed = "http://127.0.0.1:" .. fake.free_port()
    local r = child("from_env", ("{ server_url = %q }"):format(srv.url),
                    { PLEX_URL = closed, PLEX_TOKEN = srv.token }, true)
    assert.equal(srv.url, r.base, r.raw)
    assert.is_truthy(r.token, r.raw)
  end)

  for _, o in ipairs({ "port", "ip", "protocol" }) do
    it("PLEX_URL is ignored when opts gives " .. o, function()
      local src = ({ port = "{ port = " .. srv.port .. " }", ip = "{ ip = '127.0.0.1' }",
                     protocol = "{ protocol = 'http' }" })[o]
      local r = child("from_env", src, { PLEX_URL = "http://127.0.0.1:1/elsewhere", PLEX_TOKEN = srv.token },
                      o == "port")
      local want = o == "port" and ("http://127.0.0.1:" .. srv.port) or "http://127.0.0.1:32400"
      assert.equal(want, r.base, r.raw)
      if o == "port" then
        assert.is_truthy(r.token, r.raw)
        assert.equal(srv.token, srv:log()[1].headers["x-plex-token"])
      end
    end)
  end

  it("without PLEX_* the defaults apply: http://127.0.0.1:32400 and no token", function()
    local r = child("from_env", "{ port = " .. srv.port .. " }", {}, true)
    assert.equal("http://127.0.0.1:" .. srv.port, r.base, r.raw)
    assert.equal("unauthorized", r["call-error"], r.raw)
    local h = srv:log()[1].headers
    assert.is_nil(h["x-plex-token"])
    assert.is_nil(h["x-plex-client-identifier"])
    assert.equal("http://127.0.0.1:32400", child("from_env", nil, {}).base)
  end)

  it("empty PLEX_* variables count as unset", function()
    local r = child("from_env", "{ port = " .. srv.port .. " }",
                    { PLEX_URL = "", PLEX_TOKEN = "", PLEX_CLIENT_IDENTIFIER = "" }, true)
    assert.equal("unauthorized", r["call-error"], r.raw)
    assert.is_nil(srv:log()[1].headers["x-plex-client-identifier"])
    assert.equal("http://127.0.0.1:32400", child("from_env", nil, { PLEX_URL = "" }).base)
  end)

  it("a bad PLEX_URL raises ArgumentError", function()
    assert.equal("argument", child("from_env", nil, { PLEX_URL = "ftp://127.0.0.1/" })["new-error"])
    assert.equal("argument", child("from_env", nil, { PLEX_URL = "not a url" })["new-error"])
  end)

  it("a PLEX_TOKEN with a newline raises ArgumentError", function()
    assert.equal("argument", child("from_env", nil, { PLEX_URL = srv.url, PLEX_TOKEN = "a\nb" })["new-error"])
  end)

  it("other options in opts are kept and validated", function()
    local r = child("from_env", "{ product = 'EnvProduct', retries = false }",
                    { PLEX_URL = srv.url, PLEX_TOKEN = srv.token }, true)
    assert.is_truthy(r.token, r.raw)
    assert.equal("EnvProduct", srv:log()[1].headers["x-plex-product"])
    assert.equal("argument", child("from_env", "{ bogus = 1 }", { PLEX_URL = srv.url })["new-error"])
  end)

  it("plexauth.new never reads the environment", function()
    local r = child("new", nil, { PLEX_URL = srv.url, PLEX_TOKEN = srv.token,
                                  PLEX_CLIENT_IDENTIFIER = "env-cid" })
    assert.equal("http://127.0.0.1:32400", r.base, r.raw)
    r = child("new", ("{ server_url = %q }"):format(srv.url),
              { PLEX_URL = "http://127.0.0.1:1", PLEX_TOKEN = srv.token, PLEX_CLIENT_IDENTIFIER = "env-cid" }, true)
    assert.equal("unauthorized", r["call-error"], r.raw)
    local h = srv:log()[1].headers
    assert.is_nil(h["x-plex-token"])
    assert.is_nil(h["x-plex-client-identifier"])
  end)

  it("ignores proxy variables: the request and its token go straight to the server", function()
    local proxy = fake.start{ token = srv.token }
    local url = "http://127.0.0.1:" .. proxy.port
    local r = child("new", ("{ server_url = %q, token = %q }"):format(srv.url, srv.token),
                    { http_proxy = url, HTTP_PROXY = url, all_proxy = url, ALL_PROXY = url }, true)
    assert.matches("^transient%-", r.token or r.raw)
    assert.equal(1, #srv:log())
    assert.equal(0, #proxy:log())
    proxy:stop()
  end)

  it("from_env with opts that are not a table raises ArgumentError (in this process)", function()
    local ok, err = pcall(plexauth.from_env, "http://127.0.0.1")
    assert.is_false(ok)
    assert.is_true(errors.is(err, errors.ArgumentError))
  end)
end)
