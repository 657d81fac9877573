/* Compatibility shims so one source builds for Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT.
 * The core uses the pa_ names below; on 5.2+ they are the lauxlib functions. */
#ifndef PLEXAUTH_COMPAT_H
#define PLEXAUTH_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM >= 502
#define pa_rawlen(L, i) lua_rawlen((L), (i))
#define pa_setfuncs(L, l, nup) luaL_setfuncs((L), (l), (nup))
#else
/* Lua 5.1 and LuaJIT (whose 5.2 extensions vary by build). */
#define pa_rawlen(L, i) lua_objlen((L), (i))

static inline void pa_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    luaL_checkstack(L, nup + 1, "too many upvalues");
    for (; l->name != NULL; l++) {
        int i;
        for (i = 0; i < nup; i++)
            lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}
#endif

#endif
