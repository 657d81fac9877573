/* plexauth_preload: the wrapper's modules and the C core into package.preload. */
#include "compat.h"
#include "plexauth.h"
#include "preload.h"

static int preload(lua_State *L)
{
    const pa_lua_source *s;
    lua_getglobal(L, "package");
    if (!lua_istable(L, -1))
        return luaL_error(L, "plexauth_preload: the package library is not open");
    lua_getfield(L, -1, "preload");
    if (!lua_istable(L, -1))
        return luaL_error(L, "plexauth_preload: package.preload is not a table");
    for (s = pa_lua_sources; s->module != NULL; s++) {
        /* The chunk itself is the loader: require calls it with the name. */
        if (luaL_loadbuffer(L, s->source, s->len, s->chunkname) != 0)
            return lua_error(L);
        lua_setfield(L, -2, s->module);
    }
    lua_pushcfunction(L, luaopen_plexauth_core);
    lua_setfield(L, -2, "plexauth.core");
    return 0;
}

int plexauth_preload(lua_State *L)
{
    lua_pushcfunction(L, preload);
    return lua_pcall(L, 0, 0, 0);
}
