-- The CLI against the fake PMS: stdout, stderr and exit status. bin/plexauth,
-- run by this interpreter; in the cli-native stage, the native program
-- (PLEXAUTH_SPEC_CLI, csrc/cli_main.c).
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

-- The script's own start-up; the native program has its modules linked in.
local describe_script = util.NATIVE_CLI and pending or describe
describe_script("bin/plexauth's precompiled modules", function()
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

describe("bin/plexauth's account commands", function()
  local tv, pms, home, store

  setup(function()
    tv = fake.start{ plextv = true }
    pms = fake.start{}
    home = os.tmpname()
    os.remove(home)
    store = home .. "/cfg/plexauth/token"
  end)

  teardown(function()
    fake.stop_all()
    os.execute("rm -rf " .. q(home))
  end)

  before_each(function()
    tv:reset()
    tv:plextv{ server_uri = pms.url, link_after = 1 }
    os.execute("rm -rf " .. q(home))
  end)

  local function env(extra)
    local e = { PLEXTV_URL = tv.url, HOME = home, XDG_CONFIG_HOME = home .. "/cfg" }
    for k, v in pairs(extra or {}) do e[k] = v end
    return e
  end

  local function mode(path)
    local p = assert(io.popen("stat -c %a " .. q(path)))
    local m = p:read("*l")
    p:close()
    return m
  end

  it("login stores the token (0600 in a 0700 directory), says where to go, prints no token", function()
    local out, err, status = run("login", env())
    assert.are.equal(0, status, err)
    assert.are.equal("", out)
    assert.matches("https://plex%.tv/link", err)
    assert.matches("valid for 1[45]:%d%d", err)
    assert.is_nil(err:find("alice-token", 1, true))
    assert.is_nil(err:find("\r", 1, true), "a countdown on a non-terminal")
    assert.are.equal("alice-token-1a2b3c4d\n", util.slurp(store))
    assert.are.equal("600", mode(store))
    assert.are.equal("700", mode(home .. "/cfg/plexauth"))
    assert.matches("^plexauth%-%x+\n$", util.slurp(home .. "/cfg/plexauth/client-identifier"))
    local log = tv:log()
    local id = util.slurp(home .. "/cfg/plexauth/client-identifier"):gsub("\n", "")
    assert.are.equal(id, log[1].headers["x-plex-client-identifier"])
  end)

  it("login --strong --print writes the token to stdout and shows the app URL", function()
    local out, err, status = run("login --strong --print", env())
    assert.are.equal(0, status, err)
    assert.are.equal("alice-token-1a2b3c4d\n", out)
    assert.matches("https://app%.plex%.tv/auth#%?clientID=", err)
    assert.is_nil(io.open(store, "r"))
  end)

  it("login exits 7 when --wait passes first, leaving no file", function()
    tv:plextv{ link_after = -1 }
    local _, err, status = run("login --wait 0.5", env())
    assert.are.equal(7, status, err)
    assert.matches("run `plexauth login` again", err, 1, true)
    assert.is_nil(io.open(store, "r"))
  end)

  it("whoami, servers and logout use the stored token", function()
    assert.are.equal(0, select(3, run("login", env())))
    local out, err, status = run("whoami", env())
    assert.are.equal(0, status, err)
    assert.are.equal("alice\nalice@example.test\n", out)
    out, err, status = run("servers", env())
    assert.are.equal(0, status, err)
    local lines = {}
    for line in out:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
    assert.are.equal("Home\towned-server-id\towned", lines[1])
    assert.are.equal("\t" .. pms.url .. "\tlocal", lines[2])
    assert.matches("\trelay$", lines[4])
    assert.are.equal("Carol's\tshared-server-id\tshared", lines[5])
    assert.is_nil(out:find("owned-server-token", 1, true))
    local _
    _, err, status = run("logout", env())
    assert.are.equal(0, status, err)
    assert.is_nil(io.open(store, "r"))
    _, err, status = run("whoami", env())
    assert.are.equal(2, status)
    assert.matches("no token", err)
  end)

  it("refuses a store that others can read (exit 2, saying why)", function()
    assert.are.equal(0, select(3, run("login", env())))
    os.execute("chmod 644 " .. q(store))
    local out, err, status = run("whoami", env())
    assert.are.equal(2, status)
    assert.are.equal("", out)
    assert.matches("readable by others", err)
    assert.is_nil(err:find("alice-token", 1, true))
  end)

  it("exits 3 for a revoked token", function()
    tv:plextv{ revoke = "alice-token-1a2b3c4d" }
    local _, err, status = run("whoami", env{ PLEX_TOKEN = "alice-token-1a2b3c4d" })
    assert.are.equal(3, status, err)
    assert.is_nil(err:find("alice-token", 1, true))
  end)
end)

describe("bin/plexauth login on a terminal and interrupted", function()
  local tv, home

  setup(function()
    tv = fake.start{ plextv = true }
    home = os.tmpname()
    os.remove(home)
  end)

  teardown(function()
    fake.stop_all()
    os.execute("rm -rf " .. q(home))
  end)

  before_each(function() os.execute("rm -rf " .. q(home)) end)

  it("shows a live countdown on stderr (script(1) gives it a pseudo-terminal)", function()
    local found = os.execute("command -v script >/dev/null 2>&1")
    if not (found == true or found == 0) then
      pending("script(1) is not installed")
      return
    end
    tv:plextv{ link_after = 3 }
    local cmd = util.env_prefix{ PLEXTV_URL = tv.url, XDG_CONFIG_HOME = home } .. " " .. util.CLI
      .. " login"
    local p = assert(io.popen("script -qec " .. q(cmd) .. " /dev/null"))
    local out = p:read("*a")
    p:close()
    assert.matches("\rWaiting for the code to be entered%.%.%. 1[45]:%d%d left", out)
    assert.matches("Linked%.", out)
    assert.is_nil(out:find("alice-token", 1, true))
    assert.are.equal("alice-token-1a2b3c4d\n", util.slurp(home .. "/plexauth/token"))
  end)

  it("exits 130 on Ctrl-C (SIGINT) and leaves no file in the store", function()
    tv:plextv{ link_after = -1 }
    -- Ctrl-C once the code is shown (the CLI is waiting then, its handler set; a
    -- slow start, as under valgrind, must not meet the signal first: a background
    -- job of sh starts with SIGINT ignored). --wait bounds the run if it is lost.
    local errfile = os.tmpname()
    local cmd = util.env_prefix{ PLEXTV_URL = tv.url, XDG_CONFIG_HOME = home } .. " " .. util.CLI
      .. " login --wait 60 2>" .. q(errfile) .. " & pid=$!; i=0; while [ $i -lt 600 ] && ! grep -q 'enter the code' "
      .. q(errfile) .. "; do sleep 0.1; i=$((i+1)); done; kill -INT $pid; wait $pid; echo EXIT:$?"
    local p = assert(io.popen(cmd))
    local out = p:read("*a")
    p:close()
    local err = util.slurp(errfile)
    os.remove(errfile)
    assert.truthy(err:find("enter the code", 1, true), err)
    assert.matches("EXIT:130", out)
    local ls = assert(io.popen("ls -A " .. q(home .. "/plexauth") .. " 2>/dev/null"))
    local files = ls:read("*a")
    ls:close()
    assert.is_nil(files:find("token", 1, true), "left in the store: " .. files)
  end)
end)
