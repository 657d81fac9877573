-- docs/API.md's examples, run so that they cannot rot: every ```lua block is
-- a script of its own, run as a child process of the Lua running this spec
-- (the modules in lua/ and the C core built for it) against the bundled
-- fakes on loopback:
--
--   PLEX_URL, PLEX_TOKEN  a fake PMS (spec/support/fake_pms.lua) whose token
--                         is alice's account token, as on an owner's server
--   PLEXTV_URL            a fake plex.tv, whose account alice lists that PMS
--                         as its first server (bob has two-factor)
--   standard input        "bob", "bob-password", "123456": answers to a
--                         sign-in prompt's login, password and code
--
-- A block passes when it exits 0, writes nothing to stderr and prints no nil
-- (a documented field that went missing). Errors name docs/API.md and the
-- line in it. A block right after the line
-- `<!-- not run: REASON -->` is skipped (pending), and only such a block.
--
-- Every block runs behind a guard that exits at once (status 3) when the
-- block would send anything off loopback: plexauth.new, plexauth.account and
-- connect_device refuse any other address, and an account without
-- `plextv_url` (the real plex.tv). The fakes' state is reset between blocks.
-- PLEXAUTH_DOCS_VERBOSE=1 prints each block's output.
local fake = require("spec.support.fake")
local util = require("spec.support.util")

local q = util.q
local DOC = "docs/API.md"
local SLACK = tonumber(os.getenv("PLEXAUTH_SPEC_SLACK")) or 1
local TIMEOUT = 60 * SLACK -- seconds per block
local STDIN = "bob\nbob-password\n123456\n"
-- PLEXAUTH_DOCS_VERBOSE=1 shows what each block printed (to check its --> comments).
local VERBOSE = os.getenv("PLEXAUTH_DOCS_VERBOSE") == "1"

-- Markdown ------------------------------------------------------------------

--- The ```lua blocks of `text`: a list of `{line=, code=, skip=}` (`line`:
-- the opening fence's line number; `skip`: the reason of a not-run marker
-- on the line just before it), and a list of problems (a marker that stands
-- before no ```lua fence, an indented ```lua fence, an unclosed fence).
local function lua_blocks(text)
  local lines = {}
  for line in string.gmatch(text, "([^\n]*)\n") do lines[#lines + 1] = line end
  local blocks, problems = {}, {}
  local i = 1
  while i <= #lines do
    local line = lines[i]
    local fence, info = string.match(line, "^(```+)%s*(%S*)")
    if fence then
      local j = i + 1
      while lines[j] and not string.match(lines[j], "^" .. fence .. "%s*$") do j = j + 1 end
      if not lines[j] then
        problems[#problems + 1] = string.format("%s:%d: fence never closed", DOC, i)
      elseif info == "lua" then
        local code = table.concat(lines, "\n", i + 1, j - 1) .. "\n"
        local skip = i > 1 and string.match(lines[i - 1], "^<!%-%- not run: (.-) %-%->%s*$") or nil
        blocks[#blocks + 1] = { line = i, code = code, skip = skip }
      end
      i = j + 1
    else
      if string.find(line, "not run", 1, true) and string.find(line, "<!--", 1, true)
         and not string.match(lines[i + 1] or "", "^```lua%s*$") then
        problems[#problems + 1] = string.format("%s:%d: not-run marker before no ```lua fence", DOC, i)
      end
      if string.match(line, "^%s+```+%s*lua") then
        problems[#problems + 1] = string.format("%s:%d: indented ```lua fence (it would not run)", DOC, i)
      end
      i = i + 1
    end
  end
  return blocks, problems
end

-- The child ------------------------------------------------------------------

-- Runs as `lua RUNNER BLOCK_FILE LINE`: installs the guard, then runs the
-- block as a chunk named docs/API.md whose lines are the document's.
local RUNNER = [=[
local block_file, first = arg[1], tonumber(arg[2])
local plexauth = require("plexauth")
local errors = plexauth.errors
local url = require("plexauth.url")
errors.wrapper() -- errors name the example's line, not the guard's

local function refuse(fmt, ...)
  io.stderr:write("docs example refused: ", string.format(fmt, ...), "\n")
  os.exit(3) -- not an error: an example's pcall must not swallow it
end

local function loopback(host)
  host = string.lower(host)
  if host == "localhost" or host == "::1" or url.is_ipv4(host) and string.match(host, "^127%.") then
    return true
  end
  local a = url.plex_direct_address(host)
  return a ~= nil and (a == "::1" or string.match(a, "^127%.") ~= nil)
end

-- A URL plexauth would send to; others it refuses itself (ArgumentError).
local function check_url(what, u)
  local scheme, host = url.split(type(u) == "string" and u or "")
  if scheme ~= "http" and scheme ~= "https" then return end
  if not loopback(host) then refuse("%s %s is not on loopback", what, tostring(u)) end
end

local function check_resolve(opts)
  if type(opts.resolve) ~= "table" then return end
  for _, e in ipairs(opts.resolve) do
    local addr = type(e) == "string" and string.match(e, ":%d+:%[?([^%]]+)%]?$")
    if addr and not loopback(addr) then refuse("resolve entry %s is not on loopback", e) end
  end
end

local new, account = plexauth.new, plexauth.account
plexauth.new = function(opts)
  if type(opts) == "table" then
    if opts.server_url ~= nil then check_url("server_url", opts.server_url)
    elseif type(opts.ip) == "string" and not loopback((string.gsub(opts.ip, "^%[(.*)%]$", "%1"))) then
      refuse("ip %s is not on loopback", opts.ip)
    end
    check_resolve(opts)
  end
  return new(opts)
end
plexauth.account = function(opts)
  if type(opts) == "table" then
    if opts.plextv_url == nil then refuse("an account without plextv_url would talk to https://plex.tv") end
    check_url("plextv_url", opts.plextv_url)
    check_resolve(opts)
  end
  return account(opts)
end

local function guard_connect(class)
  local connect = class.connect_device
  class.connect_device = function(self, dev, opts)
    if type(dev) == "table" and type(dev.connections) == "table" then
      for _, c in ipairs(dev.connections) do
        local skipped = type(opts) == "table" and opts.allow_relay == false and type(c) == "table" and c.relay
        if type(c) == "table" and type(c.uri) == "string" and not skipped then check_url("connection", c.uri) end
      end
    end
    if type(opts) == "table" then check_resolve(opts) end
    return connect(self, dev, opts)
  end
end
guard_connect(plexauth.Client)
guard_connect(require("plexauth.account").Account)

-- An example that prints nil shows a field or result that is gone: it fails.
local real_print = print
print = function(...)
  for i = 1, select("#", ...) do
    if select(i, ...) == nil then
      io.stderr:write(debug.traceback("docs example printed nil (argument " .. i .. ")", 2), "\n")
      os.exit(1) -- not an error: an example's pcall must not swallow it
    end
  end
  return real_print(...)
end

local f = assert(io.open(block_file, "rb"))
local code = f:read("*a")
f:close()
local chunk, err = (loadstring or load)(string.rep("\n", first) .. code, "@docs/API.md")
if not chunk then
  io.stderr:write(err, "\n")
  os.exit(1)
end
local ok, e = xpcall(chunk, function(x) return debug.traceback(tostring(x), 2) end)
if not ok then
  io.stderr:write(e, "\n")
  os.exit(1)
end
os.exit(0)
]=]

local HASH = "0123456789abcdef0123456789abcdef"

-- What the fake plex.tv answers to /api/v2/resources: an owned server whose
-- local connection is the fake PMS (the others refuse connections), a
-- shared server, and a player. Every address is on loopback.
local function resources(pms, dead)
  local function conn(protocol, host, port, is_local, relay, uri)
    return { protocol = protocol, address = host, port = port, ["local"] = is_local, relay = relay,
             IPv6 = false, uri = uri or string.format("%s://%s.%s.plex.direct:%d", protocol,
                                                       (string.gsub(host, "%.", "-")), HASH, port) }
  end
  local function dev(t)
    local d = { product = "Plex Media Server", productVersion = "1.40.0", platform = "Linux",
                platformVersion = "6.1", provides = "server", owned = true, home = false, presence = true,
                httpsRequired = false, publicAddress = "203.0.113.5" }
    for k, v in pairs(t) do d[k] = v end
    return d
  end
  return {
    dev{ name = "Home", clientIdentifier = pms.machine_id, accessToken = pms.token, connections = {
      conn("https", "127.0.0.1", dead, false, false),
      conn("http", "127.0.0.1", pms.port, true, false, pms.url),
      conn("https", "127.0.0.3", dead, false, true),
    } },
    dev{ name = "Carol's", clientIdentifier = "carol-server-id", owned = false, sourceTitle = "carol",
         accessToken = "carol-server-token", connections = { conn("http", "127.0.0.1", dead, true, false) } },
    dev{ name = "Phone", clientIdentifier = "phone-id", provides = "client,player", connections = {} },
  }
end

describe(DOC .. " examples", function()
  local text do
    local f = assert(io.open(DOC, "rb"))
    text = f:read("*a")
    f:close()
  end
  local blocks, problems = lua_blocks(text)
  local dir, runner, stdin, pms, tv, dead

  -- Runs `code` (as the block whose fence is on line `line`); returns
  -- true, or false and what went wrong.
  local function run(code, line)
    local block = dir .. "/block.lua"
    util.write(block, code)
    local out, err = dir .. "/out", dir .. "/err"
    local env = { PLEX_URL = pms.url, PLEX_TOKEN = pms.token, PLEXTV_URL = tv.url }
    local cmd = string.format("%s timeout %d %s %s %s %d <%s >%s 2>%s; echo $?", util.env_prefix(env),
                              TIMEOUT, util.LUA, q(runner), q(block), line, q(stdin), q(out), q(err))
    local p = assert(io.popen(cmd))
    local status = tonumber(p:read("*a"):match("(%d+)%s*$"))
    p:close()
    local e = util.slurp(err)
    if VERBOSE then io.write(string.format("\n-- %s:%d\n%s", DOC, line, util.slurp(out))) end
    if status == 0 and e == "" then return true end
    return false, string.format("%s:%d: the block exited %s%s\n-- stderr:\n%s-- stdout:\n%s", DOC, line,
                                tostring(status), status == 124 and " (timed out)" or "", e, util.slurp(out))
  end

  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -m 700 " .. q(dir)))
    runner = dir .. "/runner.lua"
    util.write(runner, RUNNER)
    stdin = dir .. "/stdin"
    util.write(stdin, STDIN)
    pms = fake.start{ token = "alice-token-1a2b3c4d" } -- the owner's account token, as on a real server
    tv = fake.start{ plextv = true }
    dead = fake.free_port()
  end)

  teardown(function()
    fake.stop_all()
    if dir then os.execute("rm -rf " .. q(dir)) end
  end)

  before_each(function()
    pms:reset()
    tv:reset()
    tv:plextv{ link_after = 1, resources = resources(pms, dead) }
  end)

  it("has ```lua blocks, and every not-run marker stands just before one", function()
    assert.are.same({}, problems)
    local run_count, skipped = 0, 0
    for _, b in ipairs(blocks) do
      if b.skip then skipped = skipped + 1 else run_count = run_count + 1 end
    end
    assert.is_true(run_count >= 20, run_count .. " blocks run")
    assert.is_true(skipped < run_count / 2, skipped .. " blocks not run, " .. run_count .. " run")
    print(string.format("\n%s: %d ```lua blocks run, %d not run", DOC, run_count, skipped))
  end)

  describe("the runner", function()
    it("fails a block that raises, naming the document's line", function()
      local ok, why = run("\nlocal plexauth = require('plexauth')\nplexauth.new{ tokn = 1 }\n", 10)
      assert.is_false(ok)
      assert.matches("unknown option tokn %(at docs/API%.md:13%)", why)
    end)

    it("fails a block that does not compile, writes to stderr or prints nil", function()
      assert.is_false((run("local x = = 1\n", 1)))
      assert.is_false((run("io.stderr:write('oops')\n", 1)))
      local ok, why = run("pcall(print, 'a', require('plexauth').from_env():get_transient_token().tokn)\n", 1)
      assert.is_false(ok)
      assert.matches("printed nil (argument 2)", why, nil, true)
    end)

    it("passes a block that runs", function()
      assert.is_true((run("local c = require('plexauth').from_env()\nassert(c:get_transient_token().token)\n", 1)))
    end)

    it("refuses plex.tv, and any address off loopback, even under pcall", function()
      local cases = {
        "plexauth.account{ client_identifier = 'x' }",
        "plexauth.account{ client_identifier = 'x', plextv_url = 'https://plex.tv' }",
        "plexauth.new{ server_url = 'http://192.0.2.1:32400' }",
        "plexauth.new{ ip = '192.0.2.1' }",
        "plexauth.new{ server_url = 'https://10-0-0-1.abc.plex.direct:32400' }",
        "plexauth.new{ resolve = { 'example.test:80:192.0.2.1' } }",
        "plexauth.from_env():connect_device{ connections = { { uri = 'http://192.0.2.1:32400' } } }",
      }
      for _, c in ipairs(cases) do
        local ok, why = run("local plexauth = require('plexauth')\npcall(function() " .. c .. " end)\n", 1)
        assert.is_false(ok, c)
        assert.matches("exited 3", why, nil, true)
        assert.matches("docs example refused", why, nil, true)
      end
      assert.is_true((run("local plexauth = require('plexauth')\n"
        .. "plexauth.new{ server_url = 'https://127-0-0-1.abc.plex.direct:9' }:close()\n", 1)))
    end)
  end)

  for i, b in ipairs(blocks) do
    local name = string.format("%s:%d (```lua block %d)", DOC, b.line, i)
    if b.skip then
      pending(name .. ": not run: " .. b.skip)
    else
      it(name .. " runs", function()
        local ok, why = run(b.code, b.line)
        assert(ok, why)
      end)
    end
  end
end)
