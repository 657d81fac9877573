/* Raw response bytes to Lua values. See response.h. */
#include <string.h>
#include "response.h"

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Adds one "name: value" pair to the headers table at index t. A repeated
 * name collects its values in a list in the table at index multi (made on
 * first need, *multi set to its index), joined once at the end, so a
 * header repeated n times costs O(n), not O(n^2). */
static void add_header(lua_State *L, int t, int *multi, char *name,
                       size_t nlen, const char *val, size_t vlen)
{
    size_t i;
    for (i = 0; i < nlen; i++)
        name[i] = lower(name[i]);
    lua_pushlstring(L, name, nlen);
    lua_pushvalue(L, -1);
    lua_rawget(L, t);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushlstring(L, val, vlen);
        lua_rawset(L, t);
        return;
    }
    if (*multi == 0) {
        lua_newtable(L);
        lua_replace(L, t + 1); /* the slot reserved by pa_push_headers */
        *multi = t + 1;
    }
    lua_pushvalue(L, -2);
    lua_rawget(L, *multi);                  /* name, first, list|nil */
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_createtable(L, 4, 0);
        lua_insert(L, -2);                  /* name, list, first */
        lua_rawseti(L, -2, 1);
        lua_pushvalue(L, -2);
        lua_pushvalue(L, -2);
        lua_rawset(L, *multi);              /* multi[name] = list */
    } else {
        lua_remove(L, -2);                  /* name, list */
    }
    lua_pushlstring(L, val, vlen);
    lua_rawseti(L, -2, (int)pa_rawlen(L, -2) + 1);
    lua_pop(L, 2);
}

/* Joins each list in the table at multi with ", " into the table at t. */
static void join_repeated(lua_State *L, int t, int multi)
{
    lua_pushnil(L);
    while (lua_next(L, multi) != 0) {       /* name, list */
        int list = lua_gettop(L), i, n = (int)pa_rawlen(L, list);
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (i = 1; i <= n; i++) {
            if (i > 1)
                luaL_addlstring(&b, ", ", 2);
            lua_rawgeti(L, list, i);
            luaL_addvalue(&b);
        }
        luaL_pushresult(&b);                /* name, list, joined */
        lua_pushvalue(L, list - 1);
        lua_insert(L, -2);
        lua_rawset(L, t);
        lua_pop(L, 1);                      /* name */
    }
}

void pa_push_headers(lua_State *L, char *buf, size_t len)
{
    size_t pos = 0;
    int t, multi = 0;
    lua_createtable(L, 0, 8);
    t = lua_gettop(L);
    lua_pushnil(L); /* reserved for the table of repeated headers */
    while (pos < len) {
        char *line = buf + pos;
        char *nl = memchr(line, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - line) : len - pos;
        char *colon;
        pos += llen + (nl ? 1 : 0);
        if (llen > 0 && line[llen - 1] == '\r')
            llen--;
        colon = memchr(line, ':', llen);
        /* Skip the status line, blank lines and lines with no name. */
        if (colon == NULL || colon == line || is_space(line[0]))
            continue;
        {
            size_t nlen = (size_t)(colon - line);
            const char *v = colon + 1, *end = line + llen;
            while (nlen > 0 && is_space(line[nlen - 1]))
                nlen--;
            while (v < end && is_space(*v))
                v++;
            while (end > v && is_space(end[-1]))
                end--;
            if (nlen > 0)
                add_header(L, t, &multi, line, nlen, v, (size_t)(end - v));
        }
    }
    if (multi != 0)
        join_repeated(L, t, multi);
    lua_pop(L, 1);
}

int pa_is_json(const char *ct, size_t len)
{
    static const char app[] = "application/", json[] = "json";
    size_t end = 0, i, start;
    while (end < len && ct[end] != ';')
        end++;
    while (end > 0 && is_space(ct[end - 1]))
        end--;
    start = 0;
    while (start < end && is_space(ct[start]))
        start++;
    if (end - start < sizeof app - 1 + sizeof json - 1)
        return 0;
    for (i = 0; i < sizeof app - 1; i++)
        if (lower(ct[start + i]) != app[i])
            return 0;
    /* "application/json" or "application/<anything>+json" */
    for (i = 0; i < sizeof json - 1; i++)
        if (lower(ct[end - 4 + i]) != json[i])
            return 0;
    return end - start == sizeof app - 1 + 4 || ct[end - 5] == '+';
}

/* Finds the value of the one header line named name (lower-case); returns
 * 1 and sets *v, *vlen when there is exactly one, 0 when there is none, 2
 * when there are several. */
static int find_header(const char *buf, size_t len, const char *name,
                       const char **v, size_t *vlen)
{
    size_t pos = 0, nlen = strlen(name);
    int found = 0;
    while (pos < len) {
        const char *line = buf + pos, *end;
        const char *nl = memchr(line, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - line) : len - pos, i, k;
        pos += llen + (nl ? 1 : 0);
        end = line + llen;
        if (llen > 0 && end[-1] == '\r')
            end--;
        for (i = 0; i < nlen && line + i < end && lower(line[i]) == name[i]; i++)
            ;
        if (i < nlen)
            continue;
        for (k = i; line + k < end && is_space(line[k]); k++)
            ;
        if (line + k == end || line[k] != ':')
            continue;
        if (++found > 1)
            return 2;
        for (k++; line + k < end && is_space(line[k]); k++)
            ;
        *v = line + k;
        while (end > *v && is_space(end[-1]))
            end--;
        *vlen = (size_t)(end - *v);
    }
    return found;
}

void pa_push_response_raw(lua_State *L, int decode, long status,
                          char *hdr, size_t hdrlen,
                          const char *body, size_t bodylen, int lazy)
{
    size_t ctlen = 0;
    const char *ct = NULL;
    int json, n;

    if (decode < 0 && decode > LUA_REGISTRYINDEX) /* relative, not pseudo */
        decode = lua_gettop(L) + decode + 1;
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, (lua_Integer)status);
    lua_setfield(L, -2, "status_code");
    n = lazy ? find_header(hdr, hdrlen, "content-type", &ct, &ctlen) : 2;
    if (n == 2) {
        /* Parse them all; a repeated Content-Type is joined like others. */
        pa_push_headers(L, hdr, hdrlen);
        lua_getfield(L, -1, "content-type");
        lua_insert(L, -2);
        lua_setfield(L, -3, "headers");
        ct = lua_tolstring(L, -1, &ctlen);
    } else {
        lua_pushlstring(L, hdr, hdrlen);
        lua_setfield(L, -2, "raw_headers");
        if (n == 1)
            lua_pushlstring(L, ct, ctlen);
        else
            lua_pushnil(L);
    }
    json = ct != NULL && pa_is_json(ct, ctlen);
    lua_setfield(L, -2, "content_type");
    lua_pushlstring(L, body, bodylen);
    if (!json) {
        lua_setfield(L, -2, "body");
        lua_pushnil(L);
        return;
    }
    lua_pushvalue(L, decode);
    lua_pushvalue(L, -2);
    lua_setfield(L, -4, "body");
    lua_insert(L, -2);                      /* table, decode, body */
    if (lua_pcall(L, 1, 2, 0) != 0) {       /* a decoder that raises, or memory */
        lua_pushnil(L);
        lua_insert(L, -2);                  /* table, nil, message */
    }
    /* value, nil on success; nil, message on failure (as cjson.safe). */
    lua_pushvalue(L, -2);
    lua_setfield(L, -4, "object");
    lua_remove(L, -2);
}

void pa_push_response(lua_State *L, int decode, long status,
                      char *hdr, size_t hdrlen,
                      const char *body, size_t bodylen)
{
    pa_push_response_raw(L, decode, status, hdr, hdrlen, body, bodylen, 0);
}
