/* plexauth_preload: the wrapper's modules and the C core into package.preload. */
#include "compat.h"
#include "plexauth.h"
#include "preload.h"

/* package.preload's loader of one module (upvalue: its pa_lua_source): the
 * chunk is compiled on first require, not when the state starts. require's
 * arguments go to the chunk, as they would to a file's. */
static int load_module(lua_State *L)
{
    const pa_lua_source *s = (const pa_lua_source *)lua_touserdata(L, lua_upvalueindex(1));
    if (luaL_loadbuffer(L, s->source, s->len, s->chunkname) != 0)
        return lua_error(L);
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

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
        lua_pushlightuserdata(L, (void *)s);
        lua_pushcclosure(L, load_module, 1);
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
