/* One HTTP transfer on a libcurl easy handle. See transfer.h. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "transfer.h"
#include "response.h"

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
CURLcode pa_global_init(void)
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

curl_version_info_data *pa_curl_version(void)
{
    pa_global_init();
    return global_vi;
}

static int buf_append(pa_buffer *b, const char *p, size_t n)
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

void pa_buf_free(pa_buffer *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    pa_transfer *t = ud;
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
    pa_transfer *t = ud;
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

void pa_transfer_free(pa_transfer *t)
{
    if (t->curl != NULL) {
        curl_easy_cleanup(t->curl);
        t->curl = NULL;
    }
    curl_slist_free_all(t->headers);
    curl_slist_free_all(t->call_headers);
    curl_slist_free_all(t->resolve);
    t->headers = t->call_headers = t->resolve = NULL;
    pa_buf_free(&t->body);
    pa_buf_free(&t->hdr);
}

void pa_transfer_bind(pa_transfer *t)
{
    curl_easy_setopt(t->curl, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(t->curl, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(t->curl, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(t->curl, CURLOPT_MAXFILESIZE_LARGE,
                     (curl_off_t)t->max_bytes);
}

void pa_transfer_init(lua_State *L, pa_transfer *t)
{
    memset(t, 0, sizeof *t);
    if (pa_global_init() != CURLE_OK)
        luaL_error(L, "plexauth.core: curl_global_init failed");
    t->curl = curl_easy_init();
    if (t->curl == NULL)
        luaL_error(L, "plexauth.core: curl_easy_init failed");
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
    curl_easy_setopt(t->curl, CURLOPT_HEADERFUNCTION, on_header);
    pa_transfer_bind(t);
}

/* The list is owned by the caller's transfer before anything can raise, so
 * __gc frees it. */
void pa_check_slist(lua_State *L, int idx, const char *what,
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

void pa_transfer_configure(lua_State *L, pa_transfer *t, int idx)
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
    pa_check_slist(L, -1, "resolve", &t->resolve);
    lua_pop(L, 1);
    curl_easy_setopt(c, CURLOPT_RESOLVE, t->resolve);
    lua_getfield(L, idx, "headers");
    pa_check_slist(L, -1, "headers", &t->headers);
    lua_pop(L, 1);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->headers);
}

void pa_transfer_request(pa_transfer *t, const char *method, const char *url,
                         const char *body, size_t bodylen, int copy)
{
    CURL *c = t->curl;
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bodylen);
        curl_easy_setopt(c, copy ? CURLOPT_COPYPOSTFIELDS : CURLOPT_POSTFIELDS,
                         body);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    /* A request with a body (a POST, never retried) goes on a new
     * connection: on a reused one that the server closes without an answer,
     * libcurl would send it again by itself. */
    curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, body != NULL ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST,
                     strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0
                         ? NULL : method);
    t->body.len = t->hdr.len = 0;
    t->too_large = t->oom = 0;
    t->errbuf[0] = '\0';
}

void pa_transfer_trim(pa_transfer *t)
{
    if (t->body.cap > 65536)
        pa_buf_free(&t->body);
}

/* The reason names of the contract, by curl result. */
static const char *reason_of(const pa_transfer *t, CURLcode rc)
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

int pa_push_result(lua_State *L, pa_transfer *t, CURLcode rc, int decode)
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
