-- plexauth.core is a loader (csrc/loader.c): it opens core_impl.so beside it with
-- lazy binding. Each case runs in a child process of the same interpreter.
local fake = require("spec.support.fake")
local util = require("spec.support.util")

-- Where the loader this suite uses lives (build/5.4, or asan's or another Lua's).
local function core_dir()
  local path = assert(package.searchpath("plexauth.core", package.cpath))
  return (assert(path:match("^(.*)/plexauth/core%.so$"), path))
end

-- Runs Lua `code` in a child with the environment of `util.env_prefix(env)`.
-- Returns its stdout and stderr together, and its exit status.
local function child(code, env)
  local dir = util.tmpdir()
  util.write(dir .. "/child.lua", code)
  local cmd = util.env_prefix(env) .. " " .. util.LUA .. " "
    .. util.q(dir .. "/child.lua") .. " 2>&1; echo \"EXIT:$?\""
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  os.execute("rm -rf " .. util.q(dir))
  return (out:gsub("EXIT:%d+\n$", "")), tonumber(out:match("EXIT:(%d+)\n$"))
end

describe("plexauth.core's loader", function()
  local srv
  setup(function() srv = fake.start{ token = "loader-token" } end)
  teardown(function() fake.stop_all() end)

  it("maps core_impl.so from the loader's own directory", function()
    local out, status = child([[
      require("plexauth.core")
      local maps = io.open("/proc/self/maps"):read("*a")
      for path in maps:gmatch("(%S+/plexauth/core[%w_]*%.so)\n") do print(path) end
    ]])
    assert.are.equal(0, status, out)
    assert.truthy(out:find(core_dir() .. "/plexauth/core_impl.so", 1, true), out)
    assert.truthy(out:find(core_dir() .. "/plexauth/core.so", 1, true), out)
  end)

  it("a second require in one state reuses the core; objects of the first still work", function()
    local out, status = child(([[
      local plexauth = require("plexauth")
      local c = plexauth.new{ server_url = %q, token = "loader-token", client_identifier = "l" }
      assert(c:get_transient_token().token)
      package.loaded["plexauth.core"] = nil
      local again = require("plexauth.core")
      assert(type(again.session) == "function" or type(again) == "table")
      collectgarbage(); collectgarbage()
      print("first client after: " .. c:get_transient_token().token:sub(1, 9))
      c:close()
      print("done")
    ]]):format(srv.url))
    assert.are.equal(0, status, out)
    assert.truthy(out:find("first client after: transient", 1, true), out)
    assert.truthy(out:find("done", 1, true), out)
  end)

  it("says which file it could not load when core_impl.so is missing", function()
    local dir = util.tmpdir()
    assert(os.execute("mkdir -p " .. util.q(dir .. "/plexauth") .. " && cp "
      .. util.q(core_dir() .. "/plexauth/core.so") .. " " .. util.q(dir .. "/plexauth/core.so")))
    local out, status = child(([[
      package.cpath = %q
      local ok, err = pcall(require, "plexauth.core")
      print(ok, err)
    ]]):format(dir .. "/?.so"))
    os.execute("rm -rf " .. util.q(dir))
    assert.are.equal(0, status, out)
    assert.truthy(out:find("^false\t"), out)
    assert.truthy(out:find("plexauth.core: cannot load " .. dir .. "/plexauth/core_impl.so", 1, true), out)
  end)

  it("binds the core's libraries lazily: fewer symbol lookups than with LD_BIND_NOW", function()
    -- glibc's loader statistics: relocations that needed a symbol lookup, those
    -- of `require "plexauth.core"` alone (less those of the interpreter's start).
    local function relocations(code, env)
      local out = child(code, util.merge({ LD_DEBUG = "statistics" }, env))
      return tonumber((out:match("final number of relocations:%s*(%d+)")))
    end
    local function of_require(env)
      local with, without = relocations([[require("plexauth.core")]], env), relocations("", env)
      return with and without and with - without
    end
    local lazy, now = of_require(), of_require{ LD_BIND_NOW = "1" }
    if not (lazy and now) then
      pending("no glibc loader statistics (LD_DEBUG) here")
      return
    end
    assert.is_true(lazy < now, ("lazy %d, bind-now %d"):format(lazy, now))
  end)
end)
