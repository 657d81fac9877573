/* plexauth.core: a small loader for the C core, core_impl.so beside it.
 *
 * Lua's require opens a C module with dlopen(RTLD_NOW), which binds every
 * function of libcurl's whole dependency tree (about thirty libraries) up
 * front: most of the cost of `require "plexauth.core"`. This module has no
 * dependency but libc; it opens core_impl.so with RTLD_LAZY, so that only
 * the functions a program calls get bound, and returns what the core's own
 * luaopen_plexauth_core returns. Static builds (preload.c) link the core
 * itself and not this file. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <string.h>

#include "compat.h"

#define IMPL_NAME "core_impl.so"
#define HANDLE_MT "plexauth.core.impl"     /* the handle's metatable */
#define HANDLE_KEY "plexauth.core.handle"  /* the registry's reference */

typedef int (*open_fn)(lua_State *L);

/* Any object of this module: dladdr names the file it was loaded from. */
static const char anchor = 0;

/* The handle's finalizer. The userdata is made before the core runs, so
 * Lua finalizes every object of the core before it closes the handle. */
static int close_handle(lua_State *L)
{
    void **h = (void **)lua_touserdata(L, 1);
    if (h != NULL && *h != NULL) {
        dlclose(*h);
        *h = NULL;
    }
    return 0;
}

#if defined(__GNUC__)
__attribute__((visibility("default")))
#endif
int luaopen_plexauth_core(lua_State *L)
{
    Dl_info info;
    const char *self, *slash;
    void **h, *sym;
    open_fn open_core;

    /* A second require in this state (package.loaded cleared) reuses the
     * handle: the objects of the first still need the core's code. */
    lua_getfield(L, LUA_REGISTRYINDEX, HANDLE_KEY);
    h = (void **)lua_touserdata(L, -1);
    if (h == NULL || *h == NULL) {
        lua_pop(L, 1);
        if (dladdr(&anchor, &info) == 0 || info.dli_fname == NULL)
            return luaL_error(L, "plexauth.core: cannot tell where plexauth.core was loaded from");
        self = info.dli_fname;
        slash = strrchr(self, '/');
        if (slash != NULL)
            lua_pushlstring(L, self, (size_t)(slash - self + 1));
        else
            lua_pushliteral(L, "./");
        lua_pushliteral(L, IMPL_NAME);
        lua_concat(L, 2);                  /* path of the core */

        h = (void **)lua_newuserdata(L, sizeof *h);
        *h = NULL;
        if (luaL_newmetatable(L, HANDLE_MT)) {
            lua_pushcfunction(L, close_handle);
            lua_setfield(L, -2, "__gc");
        }
        lua_setmetatable(L, -2);           /* path, handle */
        *h = dlopen(lua_tostring(L, -2), RTLD_LAZY | RTLD_LOCAL);
        if (*h == NULL)
            return luaL_error(L, "plexauth.core: cannot load %s: %s", lua_tostring(L, -2), dlerror());
        /* The registry keeps the handle as long as the state lives. */
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, HANDLE_KEY);
        lua_remove(L, -2);                 /* handle */
    }
    sym = dlsym(*h, "luaopen_plexauth_core");
    if (sym == NULL)
        return luaL_error(L, "plexauth.core: the core has no luaopen_plexauth_core");
    memcpy(&open_core, &sym, sizeof open_core); /* object to function pointer, as POSIX allows */
    lua_pop(L, 1);
    return open_core(L);
}
