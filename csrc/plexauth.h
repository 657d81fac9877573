/* plexauth for C hosts that link libplexauth.a (`make static`).
 *
 * plexauth_preload(L) registers `plexauth`, `plexauth.core` and every
 * `plexauth.*` module of the Lua wrapper in package.preload, so the host's
 * scripts can `require "plexauth"` without any file on disk. The state must
 * have the package library open (luaL_openlibs), and `cjson.safe` must be
 * requireable (the system lua-cjson, or a host that preloads it).
 * Returns 0, or non-zero with an error message pushed on the stack.
 *
 * Threads: any number of threads may each use their own lua_State; a
 * client (and its state) must be used by one thread at a time. */
#ifndef PLEXAUTH_H
#define PLEXAUTH_H

#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

int plexauth_preload(lua_State *L);
int luaopen_plexauth_core(lua_State *L);

#ifdef __cplusplus
}
#endif

#endif
