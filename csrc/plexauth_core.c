/* plexauth.core: HTTP transport over libcurl, and responses turned into Lua
 * values (JSON through a private lua-cjson instance). Policy (URLs, retries,
 * validation, errors, loops) is Lua's.
 *
 * A session is one reused easy handle for blocking calls (this file); a
 * multi runs many transfers at once for the non-blocking mode and parallel
 * probes (multi.c). Curl callbacks only copy bytes into C buffers or record
 * interest; no Lua API runs inside libcurl. Every resource hangs off a
 * userdata with __gc. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <curl/curl.h>
#include "compat.h"
#include "response.h"
#include "transfer.h"

#define SESSION_MT "plexauth.core.session"
#define DECODER lua_upvalueindex(1)
#define MAX_DEPTH 64

/* ---- session ---------------------------------------------------------- */

static pa_transfer *check_session(lua_State *L)
{
    pa_transfer *t = luaL_checkudata(L, 1, SESSION_MT);
    if (t->curl == NULL)
        luaL_error(L, "plexauth.core: session is closed");
    return t;
}

/* core.session() -> a session with one reused easy handle. */
static int l_session(lua_State *L)
{
    pa_transfer *t = lua_newuserdata(L, sizeof *t);
    memset(t, 0, sizeof *t);
    luaL_getmetatable(L, SESSION_MT);
    lua_setmetatable(L, -2);
    pa_transfer_init(L, t);
    return 1;
}

/* session:configure(opts) */
static int l_configure(lua_State *L)
{
    pa_transfer_configure(L, check_session(L), 2);
    return 0;
}

/* session:perform(method, url [, headers [, body]]) -> response, decode_err
 * or nil, reason, curl_code, message. headers, when given, replaces the
 * configured header list for this call only. */
static int l_perform(lua_State *L)
{
    pa_transfer *t = check_session(L);
    const char *method = luaL_checkstring(L, 2);
    const char *url = luaL_checkstring(L, 3);
    size_t bodylen = 0;
    const char *body = luaL_optlstring(L, 5, NULL, &bodylen);
    CURLcode rc;
    int n;
    if (!lua_isnoneornil(L, 4)) {
        pa_check_slist(L, 4, "headers", &t->call_headers);
        curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, t->call_headers);
    }
    pa_transfer_request(t, method, url, body, bodylen, 0);
    rc = curl_easy_perform(t->curl);
    if (t->call_headers != NULL) {
        curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, t->headers);
        curl_slist_free_all(t->call_headers);
        t->call_headers = NULL;
    }
    n = pa_push_result(L, t, rc, DECODER);
    pa_transfer_trim(t);
    return n;
}

/* session:close(); also __gc and __close. Idempotent. */
static int l_close(lua_State *L)
{
    pa_transfer_free(luaL_checkudata(L, 1, SESSION_MT));
    return 0;
}

static int l_closed(lua_State *L)
{
    pa_transfer *t = luaL_checkudata(L, 1, SESSION_MT);
    lua_pushboolean(L, t->curl == NULL);
    return 1;
}

static int l_session_tostring(lua_State *L)
{
    lua_pushfstring(L, "plexauth.core.session (%p)", lua_topointer(L, 1));
    return 1;
}

/* ---- module ------------------------------------------------------------- */

/* core.headers(raw) -> the headers table of a raw header block, as
 * response.headers (lower-case names, repeats joined with ", "). */
static int l_headers(lua_State *L)
{
    size_t len;
    const char *raw = luaL_checklstring(L, 1, &len);
    char *copy = lua_newuserdata(L, len + 1); /* parsing lower-cases in place */
    memcpy(copy, raw, len);
    pa_push_headers(L, copy, len);
    return 1;
}

/* core.parse(status, raw_headers, body) -> response, decode_err: the same
 * conversion perform applies, without a socket. */
static int l_parse(lua_State *L)
{
    long status = (long)luaL_checkinteger(L, 1);
    size_t hlen, blen;
    const char *h = luaL_checklstring(L, 2, &hlen);
    const char *b = luaL_checklstring(L, 3, &blen);
    char *copy = lua_newuserdata(L, hlen + 1); /* parsing lower-cases in place */
    memcpy(copy, h, hlen);
    pa_push_response(L, DECODER, status, copy, hlen, b, blen);
    return 2;
}

/* core.sleep(seconds): for retry back-off. */
static int l_sleep(lua_State *L)
{
    double s = luaL_checknumber(L, 1);
    struct timespec ts;
    if (s <= 0)
        return 0;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return 0;
}

/* core.now() -> seconds on a monotonic clock. */
static int l_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

static const luaL_Reg session_methods[] = {
    {"configure", l_configure},
    {"perform", l_perform},
    {"close", l_close},
    {"closed", l_closed},
    {NULL, NULL}
};

static const luaL_Reg module_funcs[] = {
    {"session", l_session},
    {"parse", l_parse},
    {"headers", l_headers},
    {"sleep", l_sleep},
    {"now", l_now},
    {NULL, NULL}
};

/* Pushes the lua-cjson module to make the decoder from: one the host has
 * loaded already (cjson.safe, cjson), else Neovim's vim.json (Neovim links
 * lua-cjson in and exports its symbols, so loading another copy of it into
 * Neovim breaks), else require "cjson.safe". */
static void push_cjson(lua_State *L)
{
    static const char *const loaded[] = {"cjson.safe", "cjson"};
    int i;
    lua_getglobal(L, "package");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "loaded");
        for (i = 0; i < 2 && lua_istable(L, -1); i++) {
            lua_getfield(L, -1, loaded[i]);
            if (lua_istable(L, -1)) {
                lua_replace(L, -3);
                lua_pop(L, 1);
                return;
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_getglobal(L, "vim");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "json");
        if (lua_istable(L, -1)) {
            lua_remove(L, -2);
            return;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "cjson.safe");
    lua_call(L, 1, 1);
}

/* Pushes the decode of a private lua-cjson instance limited to MAX_DEPTH
 * (errors are caught where it is called), and sets core.null. */
static void push_decoder(lua_State *L)
{
    push_cjson(L);
    lua_getfield(L, -1, "null");
    lua_setfield(L, -3, "null");        /* core.null */
    lua_getfield(L, -1, "new");
    lua_call(L, 0, 1);
    lua_remove(L, -2);
    lua_getfield(L, -1, "decode_max_depth");
    lua_pushinteger(L, MAX_DEPTH);
    lua_call(L, 1, 0);
    lua_getfield(L, -1, "decode");
    lua_remove(L, -2);
}

/* The one symbol core.so exports: it is built with -fvisibility=hidden, so
 * that no other symbol of it meets a host's own (Neovim exports many). */
#if defined(__GNUC__)
__attribute__((visibility("default")))
#endif
int luaopen_plexauth_core(lua_State *L)
{
    curl_version_info_data *vi;
    lua_newtable(L);                     /* module */

    push_decoder(L);                     /* module, decode */
    luaL_newmetatable(L, SESSION_MT);    /* module, decode, mt */
    lua_newtable(L);
    lua_pushvalue(L, -3);
    pa_setfuncs(L, session_methods, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__gc");
#if LUA_VERSION_NUM >= 504
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__close");
#endif
    lua_pushcfunction(L, l_session_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);                       /* module, decode */
    pa_open_multi(L);                    /* module, decode */
    pa_setfuncs(L, module_funcs, 1);     /* module */
    pa_open_sys(L);

    vi = pa_curl_version(); /* a failed global init is raised by core.session */
    lua_pushstring(L, vi->version);
    lua_setfield(L, -2, "curl_version");
    lua_pushstring(L, vi->ssl_version ? vi->ssl_version : "");
    lua_setfield(L, -2, "ssl_version");
    lua_pushboolean(L, (vi->features & CURL_VERSION_THREADSAFE) != 0);
    lua_setfield(L, -2, "curl_threadsafe");
    return 1;
}
