/* libFuzzer target over csrc/response.c: raw response bytes to Lua values.
 *
 * An input is a header block, an empty line ("\r\n\r\n" or "\n\n"), then the
 * body; without an empty line it is all header block and the body is empty.
 * The status is the code of a leading "HTTP/x nnn" line, else 200. The body
 * goes through the same decoder as the core's: a private lua-cjson.safe
 * instance limited to 64 levels. Besides crashes and sanitizer reports, the
 * target aborts when the pushed response breaks its documented shape. */
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
    pa_push_response(L1, -1, in->status, in->hdr, in->hdrlen,
                     in->body, in->bodylen);
    return 2;
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

    lua_pushvalue(L, 1);
    lua_pushlightuserdata(L, &in);
    if (lua_pcall(L, 1, 2, 0) != 0) {
        /* Only a memory error can get here. */
        check(lua_type(L, -1) == LUA_TSTRING);
        lua_settop(L, 1);
        free(in.hdr);
        return 0;
    }
    /* response, decode_error */
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
    lua_settop(L, 1);
    free(in.hdr);
    return 0;
}
