rockspec_format = "3.0"
package = "plexauth"
version = "scm-1"
source = {
  url = "git+https://example.invalid/plexauth.git",
}
description = {
  summary = "Plex Media Server authentication: transient tokens and source connection information",
  detailed = [[
plexauth talks to the authentication API of Plex Media Server: transient
tokens (GET /security/token) and source connection information
(GET /security/resources), over a thin C core on libcurl.
]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1, < 5.5",
  "lua-cjson",
}
external_dependencies = {
  CURL = { header = "curl/curl.h", library = "curl" },
}
build = {
  type = "builtin",
  modules = {
    ["plexauth.core"] = {
      sources = { "csrc/plexauth_core.c", "csrc/transfer.c", "csrc/multi.c", "csrc/response.c" },
      incdirs = { "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
      libraries = { "curl" },
    },
    ["plexauth"] = "lua/plexauth/init.lua",
    ["plexauth.errors"] = "lua/plexauth/errors.lua",
    ["plexauth.options"] = "lua/plexauth/options.lua",
    ["plexauth.retry"] = "lua/plexauth/retry.lua",
    ["plexauth.url"] = "lua/plexauth/url.lua",
    ["plexauth.device"] = "lua/plexauth/device.lua",
  },
  install = {
    bin = { plexauth = "bin/plexauth" },
  },
}
