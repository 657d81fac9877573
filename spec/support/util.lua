--- Small helpers shared by the spec files.
--
--   local util = require("spec.support.util")
--   local err = util.raises(errors.ArgumentError, plexauth.new, { nonsense = 1 })
--   local out, err, status = util.run_cli("--help", { PLEX_TOKEN = "..." })
--
-- Works on Lua 5.1–5.4 and LuaJIT. Child processes run with the interpreter
-- running the specs (`util.LUA`) and its package.path/cpath, so they load the
-- same modules and the C core built for that interpreter.
-- Modules run outside busted's spec environment: take luassert explicitly.
local assert = require("luassert")

local M = {}

--- Command name of the interpreter running the specs: "luajit" or "lua5.x".
M.LUA = (type(jit) == "table" and "luajit")
  or ("lua" .. string.match(_VERSION, "%d+%.%d+"))

--- Calls `fn(...)` and asserts that it raises an error of class `cls`.
-- @tparam table cls an error class from plexauth.errors
-- @tparam function fn
-- @param ... arguments for `fn`
-- @return the error raised
function M.raises(cls, fn, ...)
  local errors = require("plexauth.errors")
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  assert.is_true(errors.is(err, cls), "expected " .. cls.name .. ", got " .. tostring(err))
  return err
end

--- True when `v` is an integer number (any number on Lua 5.1/5.2 and LuaJIT,
-- a number of subtype integer on 5.3+).
-- @param v
-- @treturn boolean
function M.is_integer(v)
  return type(v) == "number" and (math.type == nil or math.type(v) == "integer")
end

--- A new table with the fields of `a`, then those of `b` (either may be nil).
-- @tparam[opt] table a
-- @tparam[opt] table b
-- @treturn table
function M.merge(a, b)
  local t = {}
  for k, v in pairs(a or {}) do t[k] = v end
  for k, v in pairs(b or {}) do t[k] = v end
  return t
end

--- Quotes `s` (or tostring(s)) as one single-quoted sh word.
-- @param s
-- @treturn string
function M.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- A new private (0700) directory; the caller removes it.
-- @treturn string its path
function M.tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  local ok = os.execute("mkdir -m 700 " .. M.q(dir))
  assert(ok == true or ok == 0, "cannot make " .. dir)
  return dir
end

--- The whole content of file `path`, or "" when it cannot be opened.
-- @tparam string path
-- @treturn string
function M.slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end

--- Writes `s` to file `path`, replacing it.
-- @tparam string path
-- @tparam string s
function M.write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

--- An `env ...` command prefix for a child process: PLEX_URL, PLEX_TOKEN and
-- PLEX_CLIENT_IDENTIFIER unset, LUA_PATH and LUA_CPATH as in this process,
-- then every name=value of `env` (values quoted).
-- @tparam[opt] table env name -> value
-- @treturn string
function M.env_prefix(env)
  local parts = { "env -u PLEX_URL -u PLEX_TOKEN -u PLEX_CLIENT_IDENTIFIER",
                  "LUA_PATH=" .. M.q(package.path), "LUA_CPATH=" .. M.q(package.cpath) }
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. M.q(v) end
  return table.concat(parts, " ")
end

--- The command line under test: $PLEXAUTH_SPEC_CLI (the native program, for the
-- cli-native stage), else bin/plexauth run by `util.LUA`.
M.CLI = os.getenv("PLEXAUTH_SPEC_CLI") or (M.LUA .. " bin/plexauth")
M.NATIVE_CLI = os.getenv("PLEXAUTH_SPEC_CLI") ~= nil

--- Runs the CLI (`util.CLI`, from the current directory) with the raw argument string
-- `args` and the environment of `env_prefix(env)`.
-- @tparam string args already quoted as needed
-- @tparam[opt] table env name -> value
-- @treturn string stdout
-- @treturn string stderr
-- @treturn integer exit status
function M.run_cli(args, env)
  local errfile = os.tmpname()
  local cmd = M.env_prefix(env) .. " " .. M.CLI .. " " .. args
    .. " 2>" .. M.q(errfile) .. "; echo \"EXIT:$?\""
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  local err = M.slurp(errfile)
  os.remove(errfile)
  local status = tonumber(string.match(out, "EXIT:(%d+)\n$"))
  return (string.gsub(out, "EXIT:%d+\n$", "")), err, status
end


-- Cached answer of have_netns.
local netns_ok

--- True when a network namespace with only a loopback interface can be made
-- (`unshare -n`); asked once per process.
-- @treturn boolean
function M.have_netns()
  if netns_ok == nil then
    local r = os.execute("unshare -n sh -c 'ip link set lo up' >/dev/null 2>&1")
    netns_ok = r == true or r == 0
  end
  return netns_ok
end

--- Runs Lua `code` with `util.LUA` in a new network namespace whose only
-- interface is loopback, from the script file `dir`/isolated.lua.
-- The chunk sees `...` = the given arguments (strings, shell-quoted here).
-- @tparam string dir a directory to write the script to
-- @tparam string code Lua source
-- @param ... arguments for the chunk
-- @treturn string its stdout and stderr
function M.run_isolated(dir, code, ...)
  local script = dir .. "/isolated.lua"
  local f = assert(io.open(script, "w"))
  -- Paths set in the script, not the environment, which the fake PMS (lua5.4) inherits.
  f:write(string.format("package.path = %q\npackage.cpath = %q\n", package.path, package.cpath))
  f:write(code)
  f:close()
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = M.q(a) end
  local cmd = string.format("unshare -n sh -c %s 2>&1",
    M.q("ip link set lo up && exec " .. M.LUA .. " " .. M.q(script) .. " " .. table.concat(args, " ")))
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return out
end

return M
