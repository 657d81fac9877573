/* A minimal C host that embeds plexauth statically (libplexauth.a, `make
 * static`): one lua_State, the standard libraries, plexauth_preload, and a
 * Lua snippet that fetches a transient token.
 *
 *   host [SERVER_URL]    (default $PLEX_URL; the token comes from $PLEX_TOKEN)
 *
 * Prints the transient token; exits 0, or 1 with the error on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "plexauth.h"

static const char snippet[] =
    "local url, token = ...\n"
    "local plexauth = require('plexauth')\n"
    "local ok, res = pcall(function()\n"
    "  local client = plexauth.new{ server_url = url, token = token }\n"
    "  local r = client:get_transient_token()\n"
    "  client:close()\n"
    "  return r\n"
    "end)\n"
    "if not ok then error(tostring(res), 0) end\n"
    "return res.token\n";

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : getenv("PLEX_URL");
    const char *token = getenv("PLEX_TOKEN");
    lua_State *L;
    int rc = 1;

    if (url == NULL || token == NULL) {
        fprintf(stderr, "usage: %s [SERVER_URL]  (PLEX_URL, PLEX_TOKEN)\n", argv[0]);
        return 2;
    }
    L = luaL_newstate();
    if (L == NULL) {
        fprintf(stderr, "host: out of memory\n");
        return 1;
    }
    luaL_openlibs(L);
    if (plexauth_preload(L) != 0) {
        fprintf(stderr, "host: %s\n", lua_tostring(L, -1));
    } else if (luaL_loadbuffer(L, snippet, sizeof snippet - 1, "=host") != 0) {
        fprintf(stderr, "host: %s\n", lua_tostring(L, -1));
    } else {
        lua_pushstring(L, url);
        lua_pushstring(L, token);
        if (lua_pcall(L, 2, 1, 0) != 0) {
            fprintf(stderr, "host: %s\n", lua_tostring(L, -1));
        } else {
            printf("%s\n", lua_tostring(L, -1));
            rc = 0;
        }
    }
    lua_close(L);
    return rc;
}
