-- Written by `make rockspec` (tools/rockspec.lua) from the source tree; do not edit.
rockspec_format = "3.0"
package = "plexauth"
version = "0.2.0-1"
source = {
  -- `make dist` writes dist/plexauth-0.2.0-1.src.rock: this rockspec and this
  -- tarball of the source tree. LuaRocks unpacks the tarball from the rock;
  -- nothing is downloaded.
  url = "plexauth-0.2.0.tar.gz",
  dir = "plexauth-0.2.0",
}
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
      sources = { "csrc/multi.c", "csrc/plexauth_core.c", "csrc/response.c", "csrc/sys.c", "csrc/transfer.c" },
      incdirs = { "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
      libraries = { "curl" },
    },
    ["plexauth"] = "lua/plexauth/init.lua",
    ["plexauth.account"] = "lua/plexauth/account.lua",
    ["plexauth.call"] = "lua/plexauth/call.lua",
    ["plexauth.cli"] = "lua/plexauth/cli.lua",
    ["plexauth.connect"] = "lua/plexauth/connect.lua",
    ["plexauth.device"] = "lua/plexauth/device.lua",
    ["plexauth.driver"] = "lua/plexauth/driver.lua",
    ["plexauth.errors"] = "lua/plexauth/errors.lua",
    ["plexauth.loop"] = "lua/plexauth/loop.lua",
    ["plexauth.loops"] = "lua/plexauth/loops/init.lua",
    ["plexauth.loops.copas"] = "lua/plexauth/loops/copas.lua",
    ["plexauth.loops.cqueues"] = "lua/plexauth/loops/cqueues.lua",
    ["plexauth.loops.luv"] = "lua/plexauth/loops/luv.lua",
    ["plexauth.loops.mpv"] = "lua/plexauth/loops/mpv.lua",
    ["plexauth.loops.poll"] = "lua/plexauth/loops/poll.lua",
    ["plexauth.options"] = "lua/plexauth/options.lua",
    ["plexauth.response"] = "lua/plexauth/response.lua",
    ["plexauth.retry"] = "lua/plexauth/retry.lua",
    ["plexauth.url"] = "lua/plexauth/url.lua",
    ["plexauth.version"] = "lua/plexauth/version.lua",
  },
  install = {
    bin = { plexauth = "bin/plexauth" },
  },
  copy_directories = { "docs", "man" },
}
