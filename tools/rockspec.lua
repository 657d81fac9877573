--- rockspec.lua: writes and checks plexauth's rockspecs. Run from the top of
-- the source tree, by any Lua 5.1 to 5.4 or LuaJIT.
--
--   lua tools/rockspec.lua write VERSION          prints plexauth-VERSION-1.rockspec
--   lua tools/rockspec.lua write scm              prints plexauth-scm-1.rockspec
--   lua tools/rockspec.lua check FILE VERSION     exits 1, saying why, unless
--       FILE is a rockspec for VERSION (X.Y.Z or scm) whose Lua modules are
--       exactly the files lua/plexauth/**/*.lua
--   lua tools/rockspec.lua modules                prints the Lua modules, one a line
--
-- The module list is made from the tree: `lua/plexauth/init.lua` is module
-- `plexauth`, `lua/plexauth/a/init.lua` is `plexauth.a`, `lua/plexauth/a/b.lua`
-- is `plexauth.a.b`.

local function die(msg)
  io.stderr:write("rockspec.lua: ", msg, "\n")
  os.exit(1)
end

--- Every Lua file under lua/plexauth, sorted (byte order).
local function lua_files()
  local p = assert(io.popen("find lua/plexauth -type f -name '*.lua' 2>/dev/null | LC_ALL=C sort"))
  local files = {}
  for line in p:lines() do files[#files + 1] = line end
  p:close()
  if #files == 0 then die("no lua/plexauth/*.lua here: run from the top of the source tree") end
  return files
end

--- The module name of a file under lua/.
local function module_of(path)
  local name = assert(path:match("^lua/(.+)%.lua$"), path):gsub("/", ".")
  return (name:gsub("%.init$", ""))
end

--- The C core's sources: csrc/*.c but loader.c (plexauth.core, which loads
-- the core), preload.c (the static library's) and cli_main.c (the native CLI's).
local function c_sources()
  local p = assert(io.popen("find csrc -maxdepth 1 -name '*.c' ! -name preload.c ! -name loader.c"
    .. " ! -name cli_main.c 2>/dev/null | LC_ALL=C sort"))
  local files = {}
  for line in p:lines() do files[#files + 1] = line end
  p:close()
  return files
end

local function quoted_list(list)
  local q = {}
  for i, v in ipairs(list) do q[i] = string.format("%q", v) end
  return table.concat(q, ", ")
end

local function modules()
  local list = {}
  for _, f in ipairs(lua_files()) do list[#list + 1] = { name = module_of(f), file = f } end
  table.sort(list, function(a, b) return a.name < b.name end)
  return list
end

local SCM_SOURCE = [[
source = {
  url = "git+https://example.invalid/plexauth.git",
}
]]

-- A src.rock holds this rockspec and the tarball it names; LuaRocks unpacks
-- the tarball from the rock and fetches nothing. A plain file name (the
-- "file" protocol) names no host.
local RELEASE_SOURCE = [[
source = {
  -- `make dist` writes dist/plexauth-%s-1.src.rock: this rockspec and this
  -- tarball of the source tree. LuaRocks unpacks the tarball from the rock;
  -- nothing is downloaded.
  url = "plexauth-%s.tar.gz",
  dir = "plexauth-%s",
}
]]

local function write(version)
  if version ~= "scm" and not version:match("^%d+%.%d+%.%d+$") then
    die("version must be X.Y.Z or scm, not " .. version)
  end
  local out = {
    "-- Written by `make rockspec` (tools/rockspec.lua) from the source tree; do not edit.\n",
    'rockspec_format = "3.0"\n',
    'package = "plexauth"\n',
    string.format('version = "%s-1"\n', version),
    version == "scm" and SCM_SOURCE or string.format(RELEASE_SOURCE, version, version, version),
    [[
description = {
  summary = "Plex authentication: transient tokens, source connections and plex.tv accounts",
  detailed = [=[
plexauth talks to the authentication API of Plex Media Server (transient
tokens, source connection information, connecting to the best of a
server's connections) and to plex.tv (PIN login, sign-in, the user's
servers), over a thin C core on libcurl. Calls block, or run as tasks of
an event loop (luv, cqueues, copas, mpv, or its own). Comes with the
`plexauth` command, its man page (man/plexauth.1) and docs/.
]=],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1, < 5.5",
  "lua-cjson",
}
-- Only the library is looked for: Debian keeps curl/curl.h under
-- /usr/include/<multiarch>, which the C compiler searches by itself but
-- LuaRocks 3.8 does not. Elsewhere set CURL_DIR, or CURL_INCDIR and CURL_LIBDIR.
external_dependencies = {
  CURL = { library = "curl" },
}
build = {
  type = "builtin",
  modules = {
    -- plexauth.core opens plexauth/core_impl.so, the C core, with lazy binding.
    ["plexauth.core"] = {
      sources = { "csrc/loader.c" },
      libraries = { "dl" },
    },
    ["plexauth.core_impl"] = {
      sources = { @SOURCES@ },
      incdirs = { "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
      libraries = { "curl" },
    },
]],
  }
  out[#out] = (out[#out]:gsub("@SOURCES@", quoted_list(c_sources())))
  for _, m in ipairs(modules()) do
    out[#out + 1] = string.format('    [%q] = %q,\n', m.name, m.file)
  end
  out[#out + 1] = [[
  },
  install = {
    bin = { plexauth = "bin/plexauth" },
  },
  copy_directories = { "docs", "man" },
}
]]
  io.stdout:write(table.concat(out))
end

-- Loads a rockspec as LuaRocks does: a chunk that sets globals.
local function load_rockspec(path)
  local f, err = io.open(path, "rb")
  if not f then die(err) end
  local src = f:read("*a")
  f:close()
  local env = {}
  local chunk, cerr
  if setfenv then -- Lua 5.1, LuaJIT
    chunk, cerr = loadstring(src, "@" .. path)
    if chunk then setfenv(chunk, env) end
  else
    chunk, cerr = load(src, "@" .. path, "t", env)
  end
  if not chunk then die(cerr) end
  local ok, rerr = pcall(chunk)
  if not ok then die(path .. ": " .. tostring(rerr)) end
  return env
end

local function check(path, version)
  local spec = load_rockspec(path)
  local problems = {}
  local function problem(fmt, ...) problems[#problems + 1] = string.format(fmt, ...) end
  if spec.package ~= "plexauth" then problem("package is %s, not plexauth", tostring(spec.package)) end
  if spec.version ~= version .. "-1" then
    problem("version is %s, not %s-1", tostring(spec.version), version)
  end
  if version ~= "scm" then
    local want = string.format("plexauth-%s.tar.gz", version)
    if not (spec.source and spec.source.url == want) then
      problem("source.url is %s, not %s", tostring(spec.source and spec.source.url), want)
    end
  end
  local listed = (spec.build and spec.build.modules) or {}
  local want = {}
  for _, m in ipairs(modules()) do
    want[m.name] = m.file
    if listed[m.name] == nil then
      problem("misses module %s (%s)", m.name, m.file)
    elseif listed[m.name] ~= m.file then
      problem("module %s is %s, not %s", m.name, tostring(listed[m.name]), m.file)
    end
  end
  for name, file in pairs(listed) do
    if name ~= "plexauth.core" and name ~= "plexauth.core_impl" and not want[name] then
      problem("lists module %s, but %s is not in the tree", name, file)
    end
  end
  local function sources_of(name, want_sources)
    local m = listed[name]
    local got = type(m) == "table" and type(m.sources) == "table" and m.sources or {}
    if quoted_list(got) ~= quoted_list(want_sources) then
      problem("%s's sources are {%s}, not {%s}", name, quoted_list(got), quoted_list(want_sources))
    end
  end
  sources_of("plexauth.core", { "csrc/loader.c" })
  sources_of("plexauth.core_impl", c_sources())
  local bin = spec.build and spec.build.install and spec.build.install.bin
  if not (bin and bin.plexauth == "bin/plexauth") then problem("does not install bin/plexauth") end
  table.sort(problems)
  for _, p in ipairs(problems) do io.stderr:write(path, ": ", p, "\n") end
  if #problems > 0 then
    io.stderr:write(path, ": `make rockspec` writes it anew from the tree\n")
    os.exit(1)
  end
end

local cmd = arg[1]
if cmd == "write" and arg[2] then
  write(arg[2])
elseif cmd == "check" and arg[2] and arg[3] then
  check(arg[2], arg[3])
elseif cmd == "modules" then
  for _, m in ipairs(modules()) do io.stdout:write(m.name, "\n") end
else
  die("usage: rockspec.lua write VERSION|scm | check FILE VERSION|scm | modules")
end
