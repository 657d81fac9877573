/* libFuzzer target over csrc/response.c: raw response bytes to Lua values.
 *
 * An input is a header block, an empty line ("\r\n\r\n" or "\n\n"), then the
 * body; without an empty line it is all header block and the body is empty.
 * The status is the code of a leading "HTTP/x nnn" line, else 200. The body
 * goes through the same decoder as the core's: a private lua-cjson.safe
 * instance limited to 64 levels. Each input is converted twice: eagerly
 * (pa_push_response) and lazily (pa_push_response_raw, headers left raw),
 * and the headers parsed later from raw_headers. Besides crashes and
 * sanitizer reports, the target aborts when a response breaks its documented
 * shape or the two conversions disagree. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "response.h"

static lua_State *L;

typedef struct {
    int lazy;
    long status;
    char *hdr;
    size_t hdrlen;
    const char *body;
    size_t bodylen;
} input;

static void check(int ok)
{
    if (!ok)
        abort();
}

/* Runs pa_push_response inside a protected call, as the core does. */
static int push(lua_State *L1)
{
    input *in = lua_touserdata(L1, 1);
    lua_pushvalue(L1, lua_upvalueindex(1));       /* the decoder */
    if (in->lazy)
        pa_push_response_raw(L1, -1, in->status, in->hdr, in->hdrlen,
                             in->body, in->bodylen, 1);
    else
        pa_push_response(L1, -1, in->status, in->hdr, in->hdrlen,
                         in->body, in->bodylen);
    return 2;
}

/* Parses a copy of the raw header block at the top of the stack. */
static int parse_raw(lua_State *L1)
{
    size_t len;
    const char *raw = lua_tolstring(L1, 1, &len);
    char *copy = lua_newuserdata(L1, len ? len : 1);
    memcpy(copy, raw, len);
    pa_push_headers(L1, copy, len);
    return 1;
}

/* True when the tables at a and b have the same string pairs. */
static int same_headers(lua_State *L1, int a, int b)
{
    int n = 0, m = 0;
    lua_pushnil(L1);
    while (lua_next(L1, a) != 0) {
        lua_pushvalue(L1, -2);
        lua_rawget(L1, b);
        if (!lua_rawequal(L1, -1, -2)) {
            lua_pop(L1, 3);
            return 0;
        }
        lua_pop(L1, 2);
        n++;
    }
    lua_pushnil(L1);
    while (lua_next(L1, b) != 0) {
        lua_pop(L1, 1);
        m++;
    }
    return n == m;
}

static void check_headers(lua_State *L1, int t)
{
    lua_pushnil(L1);
    while (lua_next(L1, t) != 0) {
        size_t klen, vlen, i;
        const char *k, *v;
        check(lua_type(L1, -2) == LUA_TSTRING && lua_type(L1, -1) == LUA_TSTRING);
        k = lua_tolstring(L1, -2, &klen);
        v = lua_tolstring(L1, -1, &vlen);
        check(klen > 0);
        for (i = 0; i < klen; i++)
            check(!(k[i] >= 'A' && k[i] <= 'Z') && k[i] != ':' && k[i] != '\n');
        for (i = 0; i < vlen; i++)
            check(v[i] != '\n');
        lua_pop(L1, 1);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    L = luaL_newstate();
    luaL_openlibs(L);
    /* decode = require("cjson.safe").new(); decode.decode_max_depth(64) */
    if (luaL_dostring(L, "local c = require('cjson.safe').new()\n"
                         "c.decode_max_depth(64)\n"
                         "return c.decode") != 0) {
        fprintf(stderr, "response_fuzz: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_pushcclosure(L, push, 1);                 /* stack: push */
    return 0;
}

/* Pushes the response and error for in (lazily or not) above the stack; 0
 * after a memory error (nothing pushed). */
static int convert(input *in)
{
    int top = lua_gettop(L);
    lua_pushvalue(L, 1);
    lua_pushlightuserdata(L, in);
    if (lua_pcall(L, 1, 2, 0) != 0) {
        /* Only a memory error can get here. */
        check(lua_type(L, -1) == LUA_TSTRING);
        lua_settop(L, top);
        return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data, *sep = NULL;
    size_t i, hdrlen = size, skip = 0;
    input in;
    const char *body;
    size_t blen;

    for (i = 0; i < size; i++) {
        if (i + 3 < size && memcmp(d + i, "\r\n\r\n", 4) == 0) { skip = 4; break; }
        if (i + 1 < size && memcmp(d + i, "\n\n", 2) == 0) { skip = 2; break; }
    }
    if (skip) {
        sep = d + i;
        hdrlen = i;
    }
    in.status = 200;
    if (hdrlen >= 12 && memcmp(d, "HTTP/", 5) == 0) {
        const char *sp = memchr(d, ' ', hdrlen);
        if (sp != NULL && (size_t)(sp - d) + 4 <= hdrlen && sp[1] >= '1' && sp[1] <= '5'
            && sp[2] >= '0' && sp[2] <= '9' && sp[3] >= '0' && sp[3] <= '9')
            in.status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
    }
    /* An exact-size heap copy: the parser lower-cases names in place, and
     * ASan sees any read past the block. */
    in.hdr = malloc(hdrlen ? hdrlen : 1);
    check(in.hdr != NULL);
    memcpy(in.hdr, d, hdrlen);
    in.hdrlen = hdrlen;
    in.body = sep ? sep + skip : d + size;
    in.bodylen = sep ? size - (size_t)(sep + skip - d) : 0;

    in.lazy = 0;
    if (!convert(&in)) {
        free(in.hdr);
        return 0;
    }
    /* response, decode_error (eager) at 2, 3 */
    check(lua_gettop(L) == 3 && lua_type(L, 2) == LUA_TTABLE);
    check(lua_isnil(L, 3) || lua_type(L, 3) == LUA_TSTRING);
    lua_getfield(L, 2, "status_code");
    check(lua_tointeger(L, -1) == in.status);
    lua_getfield(L, 2, "body");
    body = lua_tolstring(L, -1, &blen);
    check(body != NULL && blen == in.bodylen && memcmp(body, in.body, blen) == 0);
    lua_getfield(L, 2, "headers");
    check(lua_type(L, -1) == LUA_TTABLE);
    check_headers(L, lua_gettop(L));
    lua_getfield(L, -1, "content-type");
    lua_getfield(L, 2, "content_type");
    check(lua_rawequal(L, -1, -2));
    /* A decode error means no object; an object means no error. */
    lua_getfield(L, 2, "object");
    if (!lua_isnil(L, 3))
        check(lua_isnil(L, -1));
    lua_settop(L, 3);

    /* The lazy conversion, on a fresh copy: response, error at 4, 5. */
    memcpy(in.hdr, d, hdrlen);
    in.lazy = 1;
    if (!convert(&in)) {
        free(in.hdr);
        lua_settop(L, 1);
        return 0;
    }
    check(lua_gettop(L) == 5 && lua_type(L, 4) == LUA_TTABLE);
    check(lua_isnil(L, 3) == lua_isnil(L, 5));
    lua_getfield(L, 2, "content_type");
    lua_getfield(L, 4, "content_type");
    check(lua_rawequal(L, -1, -2));
    lua_getfield(L, 2, "object");
    lua_getfield(L, 4, "object");
    check(lua_isnil(L, -1) == lua_isnil(L, -2));
    lua_settop(L, 5);
    lua_getfield(L, 2, "headers");                /* 6 */
    lua_getfield(L, 4, "raw_headers");            /* 7 */
    if (lua_isnil(L, -1)) {
        lua_getfield(L, 4, "headers");
        check(lua_type(L, -1) == LUA_TTABLE && same_headers(L, 6, 8));
    } else {
        size_t rlen;
        const char *raw = lua_tolstring(L, 7, &rlen);
        check(raw != NULL && rlen == hdrlen && memcmp(raw, d, hdrlen) == 0);
        lua_pushcfunction(L, parse_raw);
        lua_pushvalue(L, 7);
        if (lua_pcall(L, 1, 1, 0) == 0)
            check(lua_type(L, -1) == LUA_TTABLE && same_headers(L, 6, lua_gettop(L)));
    }
    lua_settop(L, 1);
    free(in.hdr);
    return 0;
}
