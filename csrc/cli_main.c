/* plexauth, the command line as one program (`make cli`, installed by
 * `make install`): the C core and the wrapper's bytecode are linked in
 * (plexauth_preload), and it runs plexauth.cli as bin/plexauth does, then
 * closes the Lua state and exits with the command's status.
 *
 * Start-up is why it exists. Run as a script, the interpreter dlopens
 * plexauth.core, and the dynamic linker then binds libcurl's whole
 * dependency tree (about thirty libraries) behind the interpreter's own
 * libraries, which costs more than the same work at exec time. Linked
 * into a program, libcurl is mapped and bound once, at exec, as curl(1)
 * has it; and no module is looked for or parsed.
 *
 * Like lua.c: `arg` holds the arguments (arg[0] the program), Ctrl-C
 * raises "interrupted!" in the running Lua code (plexauth.cli exits 130),
 * and Lua 5.4 collects in generational mode. LUA_INIT is not read. */
#include <signal.h>
#include <stdio.h>

#include "compat.h"
#include <lualib.h>

#include "plexauth.h"

static lua_State *running = NULL;
static volatile sig_atomic_t interrupted = 0;

static void stop_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

/* lua_sethook is the one Lua function a signal handler may call. */
static void on_interrupt(int sig)
{
    signal(sig, SIG_DFL); /* a second Ctrl-C ends the process */
    interrupted = 1;
    lua_sethook(running, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static int run(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = (char **)lua_touserdata(L, 2);
    int i;

    luaL_openlibs(L);
    if (plexauth_preload(L) != 0)
        return lua_error(L);
#if LUA_VERSION_NUM >= 504
    lua_gc(L, LUA_GCRESTART);
    lua_gc(L, LUA_GCGEN, 0, 0);
#else
    lua_gc(L, LUA_GCRESTART, 0);
#endif
    lua_createtable(L, argc > 1 ? argc - 1 : 0, 1);
    for (i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_setglobal(L, "arg");

    lua_getglobal(L, "require");
    lua_pushliteral(L, "plexauth.cli");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "status");
    lua_getglobal(L, "arg");
    lua_call(L, 1, 1);
    return 1; /* the command's exit status */
}

int main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    int status, code = 1;

    if (L == NULL) {
        fputs("plexauth: not enough memory\n", stderr);
        return 1;
    }
    lua_gc(L, LUA_GCSTOP, 0); /* while the state is built */
    running = L;
    lua_pushcfunction(L, run);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    signal(SIGINT, on_interrupt);
    status = lua_pcall(L, 2, 1, 0);
    signal(SIGINT, SIG_DFL);
    if (status != 0 && interrupted) { /* before plexauth.cli could catch it */
        fputs("\nplexauth: interrupted\n", stderr);
        code = 130;
    } else if (status != 0) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "plexauth: %s\n", msg != NULL ? msg : "(error object is not a string)");
    } else {
        code = (int)lua_tointeger(L, -1);
    }
    /* Closing the state runs every finalizer: the core's transfers end and
     * libcurl's memory is freed before the process exits. */
    lua_close(L);
    return code;
}
