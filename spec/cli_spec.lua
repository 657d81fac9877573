-- bin/plexauth against the fake PMS: stdout, stderr and exit status.
local fake = require("spec.support.fake")
local util = require("spec.support.util")

local q, write = util.q, util.write

--- Runs the CLI (with the interpreter running this spec, so it uses the same
-- build) with `args` and env table `env`; returns stdout, stderr, status.
local run = util.run_cli

describe("bin/plexauth", function()
  local srv, token_file

  setup(function()
    srv = fake.start{}
    token_file = os.tmpname()
    write(token_file, srv.token .. "\n")
  end)

  teardown(function()
    os.remove(token_file)
    fake.stop_all()
  end)

  before_each(function() srv:reset() end)

  it("prints a transient token with the token from PLEX_TOKEN", function()
    local out, err, status = run("token", { PLEX_URL = srv.url, PLEX_TOKEN = srv.token })
    assert.are.equal(0, status, err)
    assert.matches("^transient%-[%w-]+\n$", out)
    assert.are.equal("", err)
    local log = srv:log()
    assert.are.equal(1, #log)
    assert.are.equal(srv.token, log[1].headers["x-plex-token"])
    assert.is_nil(string.find(log[1].query, srv.token, 1, true))
  end)

  it("reads --token-file, strips its newline, and takes options after the command", function()
    local out, err, status = run("token --server " .. q(srv.url) .. " --token-file " .. q(token_file)
                                 .. " --client-identifier cli-test")
    assert.are.equal(0, status, err)
    assert.matches("^transient%-", out)
    local h = srv:log()[1].headers
    assert.are.equal(srv.token, h["x-plex-token"])
    assert.are.equal("cli-test", h["x-plex-client-identifier"])
  end)

  it("takes the client identifier from PLEX_CLIENT_IDENTIFIER", function()
    local _, err, status = run("token", { PLEX_URL = srv.url, PLEX_TOKEN = srv.token,
                                          PLEX_CLIENT_IDENTIFIER = "from-env" })
    assert.are.equal(0, status, err)
    assert.are.equal("from-env", srv:log()[1].headers["x-plex-client-identifier"])
  end)

  it("prints the source's access token and one line per connection", function()
    local out, err, status = run("--server=" .. q(srv.url) .. " source server://abc",
                                 { PLEX_TOKEN = srv.token })
    assert.are.equal(0, status, err)
    local lines = {}
    for line in string.gmatch(out, "([^\n]*)\n") do lines[#lines + 1] = line end
    assert.are.equal("device-access-token", lines[1])
    assert.are.equal(4, #lines)
    assert.matches("^https://127%-0%-0%-1%.%x+%.plex%.direct:32400\tlocal$", lines[2])
    assert.matches("\tremote$", lines[3])
    assert.matches("\trelay$", lines[4])
    assert.are.equal("source=server%3A%2F%2Fabc", srv:log()[1].query)
  end)

  it("prints JSON with --json", function()
    local out, err, status = run("token --json", { PLEX_URL = srv.url, PLEX_TOKEN = srv.token })
    assert.are.equal(0, status, err)
    local obj = require("cjson").decode(out)
    assert.matches("^transient%-", obj.MediaContainer.token)
  end)

  it("prints help and exits 0", function()
    local out, _, status = run("--help")
    assert.are.equal(0, status)
    assert.matches("plexauth %[options%] token", out)
  end)

  it("exits 2 without a token, and never takes one from the command line", function()
    local out, err, status = run("token", { PLEX_URL = srv.url })
    assert.are.equal(2, status)
    assert.are.equal("", out)
    assert.matches("PLEX_TOKEN", err)
    assert.are.equal(2, select(3, run("token --token " .. srv.token, { PLEX_URL = srv.url })))
    assert.are.equal(0, #srv:log())
  end)

  it("exits 2 on usage errors", function()
    local env = { PLEX_URL = srv.url, PLEX_TOKEN = srv.token }
    assert.are.equal(2, select(3, run("", env)))
    assert.are.equal(2, select(3, run("frobnicate", env)))
    assert.are.equal(2, select(3, run("source", env)))
    assert.are.equal(2, select(3, run("token --timeout -1", env)))
    assert.are.equal(2, select(3, run("token --server", env)))
    assert.are.equal(2, select(3, run("source no-scheme", env)))
    assert.are.equal(2, select(3, run("token --server ftp://x", env)))
    assert.are.equal(0, #srv:log())
  end)

  it("exits 3 when the token is rejected, without printing it", function()
    local out, err, status = run("token", { PLEX_URL = srv.url, PLEX_TOKEN = "wrong-secret-xyz" })
    assert.are.equal(3, status)
    assert.are.equal("", out)
    assert.matches("^plexauth: unauthorized: ", err)
    assert.is_nil(string.find(err, "wrong-secret-xyz", 1, true))
  end)

  it("exits 4 on another API error", function()
    srv:script{ { status = 500 } }
    local _, err, status = run("token", { PLEX_URL = srv.url, PLEX_TOKEN = srv.token })
    assert.are.equal(4, status)
    assert.matches("^plexauth: api: HTTP 500", err)
  end)

  it("exits 5 on a transport error", function()
    local url = "http://127.0.0.1:" .. fake.free_port()
    local _, err, status = run("token --timeout 2", { PLEX_URL = url, PLEX_TOKEN = srv.token })
    assert.are.equal(5, status)
    assert.matches("^plexauth: transport: ", err)
  end)

  it("exits 6 on an unexpected body", function()
    srv:script{ { status = 200, body = "not json", content_type = "text/plain" } }
    local _, err, status = run("token", { PLEX_URL = srv.url, PLEX_TOKEN = srv.token })
    assert.are.equal(6, status)
    assert.matches("^plexauth: decode: ", err)
  end)
end)

describe("bin/plexauth's precompiled modules", function()
  -- A private tree: plexauth.version's source says 7.7.7, its bytecode 8.8.8.
  local dir = os.tmpname()
  local src, lib = dir .. "/src/plexauth/version.lua", dir .. "/lib/plexauth/version.luac"
  local env = {
    LUA_PATH = dir .. "/src/?.lua;" .. package.path,
    LUA_CPATH = dir .. "/lib/?.so;" .. package.cpath,
  }

  setup(function()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. q(dir .. "/src/plexauth") .. " " .. q(dir .. "/lib/plexauth")))
    write(src, 'return "7.7.7"\n')
  end)

  teardown(function() os.execute("rm -rf " .. q(dir)) end)

  local function version()
    local out, err, status = run("--version", env)
    assert.are.equal(0, status, err)
    return out
  end

  it("loads a module's bytecode when it is not older than the source", function()
    write(lib, string.dump((loadstring or load)('return "8.8.8"')))
    assert(os.execute("touch -d 2000-01-01 " .. q(src)))
    assert.are.equal("plexauth 8.8.8\n", version())
  end)

  it("loads the source when the bytecode is older", function()
    write(lib, string.dump((loadstring or load)('return "8.8.8"')))
    assert(os.execute("touch -d 2000-01-01 " .. q(lib) .. " && touch " .. q(src)))
    assert.are.equal("plexauth 7.7.7\n", version())
  end)

  it("loads the source when the bytecode is not this Lua's", function()
    write(lib, "\27Lua of another version")
    assert(os.execute("touch -d 2000-01-01 " .. q(src)))
    assert.are.equal("plexauth 7.7.7\n", version())
  end)
end)
