/* plexauth.core: HTTP transport over one reused libcurl easy handle per
 * session, and the response turned into Lua values (JSON through a private
 * lua-cjson instance). Policy (URLs, retries, validation, errors) is Lua's.
 *
 * Curl callbacks only copy bytes into C buffers; no Lua API runs inside
 * curl_easy_perform. Every resource hangs off a userdata with __gc. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <curl/curl.h>
#include "compat.h"
#include "response.h"

#define SESSION_MT "plexauth.core.session"
#define PROBE_MT "plexauth.core.probe"
#define DECODER lua_upvalueindex(1)
#define MAX_DEPTH 64

#if !defined(_WIN32)
#include <pthread.h>
static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
#define GLOBAL_LOCK() pthread_mutex_lock(&global_lock)
#define GLOBAL_UNLOCK() pthread_mutex_unlock(&global_lock)
#else
#define GLOBAL_LOCK() ((void)0)
#define GLOBAL_UNLOCK() ((void)0)
#endif
static int global_done;
static CURLcode global_rc = CURLE_FAILED_INIT;
static curl_version_info_data *global_vi;

/* Process-wide state, set up once under global_lock (a mutex rather than
 * pthread_once, so that helgrind and ThreadSanitizer see the ordering):
 * curl_global_init is not thread-safe before libcurl 7.84, nor after it
 * where CURL_VERSION_THREADSAFE is unset; curl_version_info writes static
 * buffers on every call. Each thread may then use its own lua_State. */
static CURLcode ensure_global_init(void)
{
    CURLcode rc;
    GLOBAL_LOCK();
    if (!global_done) {
        global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
        global_vi = curl_version_info(CURLVERSION_NOW);
        global_done = 1;
    }
    rc = global_rc;
    GLOBAL_UNLOCK();
    return rc;
}

typedef struct {
    char *data;
    size_t len, cap;
} buffer;

static int buf_append(buffer *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *d;
        while (cap < b->len + n + 1)
            cap *= 2;
        d = realloc(b->data, cap);
        if (d == NULL)
            return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 1;
}

static void buf_free(buffer *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* One transfer's state: a handle, its buffers and limits. Sessions have
 * one, reused; probes have one per connection tried. */
typedef struct {
    CURL *curl;
    struct curl_slist *headers;      /* default request headers */
    struct curl_slist *call_headers; /* per-call headers, freed after use */
    struct curl_slist *resolve;
    buffer body, hdr;
    size_t max_bytes;
    int too_large, oom;
    int done;                        /* probes: 0 running, 1 2xx, 2 other */
    char errbuf[CURL_ERROR_SIZE];
} transfer;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    size_t len = size * n;
    if (t->body.len + len > t->max_bytes) {
        t->too_large = 1;
        return 0;
    }
    if (!buf_append(&t->body, p, len)) {
        t->oom = 1;
        return 0;
    }
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    size_t len = size * n;
    /* A new status line (after 1xx) starts a new header block. */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
        t->hdr.len = 0;
    if (t->hdr.len + len > t->max_bytes) {
        t->too_large = 1;
        return 0;
    }
    if (!buf_append(&t->hdr, p, len)) {
        t->oom = 1;
        return 0;
    }
    return len;
}

static void transfer_free(transfer *t)
{
    if (t->curl != NULL) {
        curl_easy_cleanup(t->curl);
        t->curl = NULL;
    }
    curl_slist_free_all(t->headers);
    curl_slist_free_all(t->call_headers);
    curl_slist_free_all(t->resolve);
    t->headers = t->call_headers = t->resolve = NULL;
    buf_free(&t->body);
    buf_free(&t->hdr);
}

static int transfer_init(lua_State *L, transfer *t)
{
    memset(t, 0, sizeof *t);
    if (ensure_global_init() != CURLE_OK)
        return luaL_error(L, "plexauth.core: curl_global_init failed");
    t->curl = curl_easy_init();
    if (t->curl == NULL)
        return luaL_error(L, "plexauth.core: curl_easy_init failed");
    t->max_bytes = 1048576;
    curl_easy_setopt(t->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t->curl, CURLOPT_FOLLOWLOCATION, 0L);
    /* Straight to the server: no proxy from the environment gets the token
     * (and libcurl skips reading the proxy variables on every request). */
    curl_easy_setopt(t->curl, CURLOPT_PROXY, "");
    curl_easy_setopt(t->curl, CURLOPT_NOPROXY, "*");
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(t->curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(t->curl, CURLOPT_PROTOCOLS,
                     (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(t->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(t->curl, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(t->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(t->curl, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(t->curl, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(t->curl, CURLOPT_MAXFILESIZE_LARGE,
                     (curl_off_t)t->max_bytes);
    return 0;
}

/* Builds a curl_slist from the array of strings at idx into *list. The list
 * is owned by the transfer before anything can raise, so __gc frees it. */
static void check_slist(lua_State *L, int idx, const char *what,
                        struct curl_slist **list)
{
    size_t i, n;
    curl_slist_free_all(*list);
    *list = NULL;
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    n = pa_rawlen(L, idx);
    for (i = 1; i <= n; i++) {
        struct curl_slist *next;
        const char *s;
        lua_rawgeti(L, idx, (int)i);
        s = lua_tostring(L, -1);
        if (s == NULL)
            luaL_error(L, "plexauth.core: %s[%d] is not a string", what, (int)i);
        next = curl_slist_append(*list, s);
        lua_pop(L, 1);
        if (next == NULL)
            luaL_error(L, "plexauth.core: out of memory");
        *list = next;
    }
}

static double opt_number(lua_State *L, int t, const char *k, double dflt)
{
    double v;
    lua_getfield(L, t, k);
    v = lua_isnil(L, -1) ? dflt : luaL_checknumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* A duration in seconds as curl's milliseconds: at least 1, since 0 would
 * mean no limit at all. */
static long opt_ms(lua_State *L, int t, const char *k, double dflt)
{
    double ms = opt_number(L, t, k, dflt) * 1000.0;
    if (!(ms >= 1.0))
        return 1;
    return ms > 2147483647.0 ? 2147483647L : (long)ms;
}

/* A byte limit as size_t. Lua accepts any positive integral number; past
 * what size_t and curl_off_t hold (the cast would be undefined) means no
 * limit in practice. */
static size_t opt_bytes(lua_State *L, int t, const char *k, double dflt)
{
    double v = opt_number(L, t, k, dflt);
    double most = (double)(SIZE_MAX / 2);
    if (!(v >= 1.0))
        return 1;
    return v >= most ? SIZE_MAX / 2 : (size_t)v;
}

static const char *opt_string(lua_State *L, int t, const char *k)
{
    const char *v;
    lua_getfield(L, t, k);
    v = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
    lua_pop(L, 1); /* the table still anchors the string */
    return v;
}

/* Applies the option table at idx: timeout, connect_timeout (seconds),
 * verify_tls, ca_file, user_agent, max_response_bytes, resolve, headers. */
static void transfer_configure(lua_State *L, transfer *t, int idx)
{
    CURL *c = t->curl;
    const char *s;
    int verify;
    luaL_checktype(L, idx, LUA_TTABLE);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, opt_ms(L, idx, "timeout", 30));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     opt_ms(L, idx, "connect_timeout", 10));
    t->max_bytes = opt_bytes(L, idx, "max_response_bytes", 1048576);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->max_bytes);
    lua_getfield(L, idx, "verify_tls");
    verify = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_pop(L, 1);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
    if ((s = opt_string(L, idx, "ca_file")) != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, s);
    curl_easy_setopt(c, CURLOPT_USERAGENT, opt_string(L, idx, "user_agent"));
    lua_getfield(L, idx, "resolve");
    check_slist(L, -1, "resolve", &t->resolve);
    lua_pop(L, 1);
    curl_easy_setopt(c, CURLOPT_RESOLVE, t->resolve);
    lua_getfield(L, idx, "headers");
    check_slist(L, -1, "headers", &t->headers);
    lua_pop(L, 1);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->headers);
}

/* Sets method and URL for the next transfer. */
static void transfer_request(transfer *t, const char *method, const char *url,
                             const char *body, size_t bodylen)
{
    CURL *c = t->curl;
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bodylen);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(c, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST,
                     strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0
                         ? NULL : method);
    t->body.len = t->hdr.len = 0;
    t->too_large = t->oom = 0;
    t->errbuf[0] = '\0';
}

/* The reason names of the contract, by curl result. */
static const char *reason_of(const transfer *t, CURLcode rc)
{
    if (t->too_large || rc == CURLE_FILESIZE_EXCEEDED)
        return "too_large";
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return "resolve";
    case CURLE_COULDNT_CONNECT:
        return "connect";
    case CURLE_OPERATION_TIMEDOUT:
        /* curl reports a connect-phase time-out as "Connection timed out"
         * or "Failed to connect ...". */
        if (strncmp(t->errbuf, "Connection time", 15) == 0 ||
            strncmp(t->errbuf, "Failed to connect", 17) == 0)
            return "connect";
        return "timeout";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return "tls";
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_TOO_MANY_REDIRECTS:
        return "protocol";
    default:
        return "other";
    }
}

/* A byte count in decimal, in buf (32 bytes). */
static const char *bytes_str(size_t n, char *buf)
{
    char *p = buf + 31;
    *p = '\0';
    do {
        *--p = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    return p;
}

/* Pushes the outcome of a finished transfer: the response table and the
 * decode error (or nil); or nil, reason, curl_code, message. */
static int push_result(lua_State *L, transfer *t, CURLcode rc, int decode)
{
    long status = 0;
    char num[32];
    if (rc != CURLE_OK) {
        lua_pushnil(L);
        lua_pushstring(L, reason_of(t, rc));
        lua_pushinteger(L, (lua_Integer)rc);
        if (t->too_large)
            lua_pushfstring(L, "response larger than %s bytes",
                            bytes_str(t->max_bytes, num));
        else if (t->oom)
            lua_pushliteral(L, "out of memory reading the response");
        else
            lua_pushstring(L, t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
        return 4;
    }
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    /* Headers stay raw until read: most callers never look at them. */
    pa_push_response_raw(L, decode, status, t->hdr.data ? t->hdr.data : "",
                         t->hdr.len, t->body.data ? t->body.data : "",
                         t->body.len, 1);
    return 2;
}

/* ---- session ---------------------------------------------------------- */

static transfer *check_session(lua_State *L)
{
    transfer *t = luaL_checkudata(L, 1, SESSION_MT);
    if (t->curl == NULL)
        luaL_error(L, "plexauth.core: session is closed");
    return t;
}

/* core.session() -> a session with one reused easy handle. */
static int l_session(lua_State *L)
{
    transfer *t = lua_newuserdata(L, sizeof *t);
    memset(t, 0, sizeof *t);
    luaL_getmetatable(L, SESSION_MT);
    lua_setmetatable(L, -2);
    transfer_init(L, t);
    return 1;
}

/* session:configure(opts) */
static int l_configure(lua_State *L)
{
    transfer_configure(L, check_session(L), 2);
    return 0;
}

/* session:perform(method, url [, headers [, body]]) -> response, decode_err
 * or nil, reason, curl_code, message. headers, when given, replaces the
 * configured header list for this call only. */
static int l_perform(lua_State *L)
{
    transfer *t = check_session(L);
    const char *method = luaL_checkstring(L, 2);
    const char *url = luaL_checkstring(L, 3);
    size_t bodylen = 0;
    const char *body = luaL_optlstring(L, 5, NULL, &bodylen);
    CURLcode rc;
    int n;
    if (!lua_isnoneornil(L, 4)) {
        check_slist(L, 4, "headers", &t->call_headers);
        curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, t->call_headers);
    }
    transfer_request(t, method, url, body, bodylen);
    rc = curl_easy_perform(t->curl);
    if (t->call_headers != NULL) {
        curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, t->headers);
        curl_slist_free_all(t->call_headers);
        t->call_headers = NULL;
    }
    n = push_result(L, t, rc, DECODER);
    /* Large bodies should not pin memory between calls. */
    if (t->body.cap > 65536) {
        buf_free(&t->body);
    }
    return n;
}

/* session:close(); also __gc and __close. Idempotent. */
static int l_close(lua_State *L)
{
    transfer_free(luaL_checkudata(L, 1, SESSION_MT));
    return 0;
}

static int l_closed(lua_State *L)
{
    transfer *t = luaL_checkudata(L, 1, SESSION_MT);
    lua_pushboolean(L, t->curl == NULL);
    return 1;
}

static int l_session_tostring(lua_State *L)
{
    lua_pushfstring(L, "plexauth.core.session (%p)", lua_topointer(L, 1));
    return 1;
}

/* ---- parallel probes ---------------------------------------------------- */

typedef struct {
    CURLM *multi;
    transfer *t;
    int n;
} probe_set;

static void probe_free(probe_set *p)
{
    int i;
    for (i = 0; i < p->n; i++) {
        if (p->multi != NULL && p->t[i].curl != NULL)
            curl_multi_remove_handle(p->multi, p->t[i].curl);
        transfer_free(&p->t[i]);
    }
    free(p->t);
    p->t = NULL;
    p->n = 0;
    if (p->multi != NULL)
        curl_multi_cleanup(p->multi);
    p->multi = NULL;
}

static int l_probe_gc(lua_State *L)
{
    probe_free(luaL_checkudata(L, 1, PROBE_MT));
    return 0;
}

/* Pushes one probe's result table. */
static void push_probe_result(lua_State *L, transfer *t, CURLcode rc)
{
    lua_newtable(L);
    if (push_result(L, t, rc, DECODER) == 2) {
        lua_setfield(L, -3, "decode_error");
        lua_setfield(L, -2, "response");
    } else {
        lua_setfield(L, -5, "message");
        lua_setfield(L, -4, "curl_code");
        lua_setfield(L, -3, "reason");
        lua_pop(L, 1);
    }
}

/* core.probe(urls, opts) -> list of results, one per URL, in order: each
 * {response=, decode_error=} or {reason=, curl_code=, message=}.
 * All transfers run at once on one multi handle; opts as for configure.
 * With opts.first_ok, transfers still running once the first URL in list
 * order that answered 2xx has no unfinished URL before it are abandoned
 * (their entries stay nil). */
static int l_probe(lua_State *L)
{
    probe_set *p;
    int i, n, first_ok, running = 1;
    CURLMsg *msg;
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "first_ok");
    first_ok = lua_toboolean(L, -1);
    lua_pop(L, 1);
    n = (int)pa_rawlen(L, 1);
    p = lua_newuserdata(L, sizeof *p);
    memset(p, 0, sizeof *p);
    luaL_getmetatable(L, PROBE_MT);
    lua_setmetatable(L, -2);
    if (ensure_global_init() != CURLE_OK)
        return luaL_error(L, "plexauth.core: curl_global_init failed");
    p->multi = curl_multi_init();
    p->t = calloc(n > 0 ? (size_t)n : 1, sizeof *p->t);
    if (p->multi == NULL || p->t == NULL)
        return luaL_error(L, "plexauth.core: out of memory");
    for (i = 0; i < n; i++) {
        transfer *t = &p->t[i];
        p->n = i + 1;
        transfer_init(L, t);
        transfer_configure(L, t, 2);
        lua_rawgeti(L, 1, i + 1);
        transfer_request(t, "GET", luaL_checkstring(L, -1), NULL, 0);
        lua_pop(L, 1);
        curl_easy_setopt(t->curl, CURLOPT_PRIVATE, (char *)t);
        if (curl_multi_add_handle(p->multi, t->curl) != CURLM_OK)
            return luaL_error(L, "plexauth.core: curl_multi_add_handle failed");
    }
    lua_createtable(L, n, 0);
    while (running) {
        CURLMcode mc = curl_multi_perform(p->multi, &running);
        int left;
        if (mc != CURLM_OK)
            return luaL_error(L, "plexauth.core: %s", curl_multi_strerror(mc));
        while ((msg = curl_multi_info_read(p->multi, &left)) != NULL) {
            char *priv;
            transfer *t;
            long status = 0;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            t = (transfer *)priv;
            curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
            t->done = msg->data.result == CURLE_OK && status >= 200 && status <= 299
                          ? 1 : 2;
            push_probe_result(L, t, msg->data.result);
            lua_rawseti(L, -2, (int)(t - p->t) + 1);
        }
        if (first_ok) {
            /* Stop once the first URL in list order that answered 2xx has
             * no unfinished URL before it: later ones cannot win. */
            for (i = 0; i < n && p->t[i].done == 2; i++)
                ;
            if (i < n && p->t[i].done == 1)
                break;
        }
        if (running) {
            mc = curl_multi_poll(p->multi, NULL, 0, 1000, NULL);
            if (mc != CURLM_OK)
                return luaL_error(L, "plexauth.core: %s", curl_multi_strerror(mc));
        }
    }
    probe_free(p); /* now rather than at the next collection */
    return 1;
}

/* ---- module ------------------------------------------------------------- */

/* core.decode(body) -> value | nil, message, with the core's decoder. */
static int l_decode(lua_State *L)
{
    lua_pushvalue(L, DECODER);
    lua_pushvalue(L, 1);
    lua_call(L, 1, 2);
    return 2;
}

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
    {"probe", l_probe},
    {"decode", l_decode},
    {"parse", l_parse},
    {"headers", l_headers},
    {"sleep", l_sleep},
    {"now", l_now},
    {NULL, NULL}
};

/* Pushes a private cjson.safe instance's decode, limited to MAX_DEPTH. */
static void push_decoder(lua_State *L)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "cjson.safe");
    lua_call(L, 1, 1);
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

int luaopen_plexauth_core(lua_State *L)
{
    curl_version_info_data *vi;
    lua_newtable(L);                     /* module */

    luaL_newmetatable(L, PROBE_MT);
    lua_pushcfunction(L, l_probe_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);

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
    pa_setfuncs(L, module_funcs, 1);     /* module */

    ensure_global_init(); /* a failure is raised by core.session */
    vi = global_vi;
    lua_pushstring(L, vi->version);
    lua_setfield(L, -2, "curl_version");
    lua_pushstring(L, vi->ssl_version ? vi->ssl_version : "");
    lua_setfield(L, -2, "ssl_version");
    lua_pushboolean(L, (vi->features & CURL_VERSION_THREADSAFE) != 0);
    lua_setfield(L, -2, "curl_threadsafe");
    return 1;
}
