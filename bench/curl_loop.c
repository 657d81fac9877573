/* Baseline clients 3 and 4: one reused libcurl easy handle doing N sequential
 * GET /security/token with the plexauth headers.
 *   curl_loop        -> no JSON decode (status + body compare only)
 *   curl_loop_cjson  -> built with -DWITH_CJSON: each body decoded by lua-cjson
 *                       in a Lua 5.4 state, MediaContainer.token checked.
 * usage: curl_loop BASE_URL N [FLAGS]  prints one RESULT line.
 * FLAGS (profiling only, adds what plexauth's core does): h = header callback
 * copying headers, t = timeouts, u = User-Agent header, U = CURLOPT_USERAGENT,
 * x = one more header of the same length, p = protocols, size limit,
 * error buffer, TLS verify; o = t+u+p; r = URL/method options set before every call. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef WITH_CJSON
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#endif

static char body[65536];
static size_t body_len;

static size_t on_write(char *p, size_t sz, size_t n, void *ud) {
    size_t len = sz * n;
    (void)ud;
    if (body_len + len > sizeof body) return 0;
    memcpy(body + body_len, p, len);
    body_len += len;
    return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
    static char hdr[8192];
    static size_t hdr_len;
    size_t len = sz * n;
    (void)ud;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) hdr_len = 0;
    if (hdr_len + len > sizeof hdr) return 0;
    memcpy(hdr + hdr_len, p, len);
    hdr_len += len;
    return len;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

#ifdef WITH_CJSON
static const char TOKEN[] = "transient-bench-token";
static lua_State *L;
static int decode_ref;
static void check(void) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, decode_ref);
    lua_pushlstring(L, body, body_len);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) { fprintf(stderr, "decode: %s\n", lua_tostring(L, -1)); exit(1); }
    if (lua_getfield(L, -1, "MediaContainer") != LUA_TTABLE) { fprintf(stderr, "no MediaContainer\n"); exit(1); }
    lua_getfield(L, -1, "token");
    size_t n;
    const char *tok = lua_tolstring(L, -1, &n);
    if (!tok || n != sizeof TOKEN - 1 || memcmp(tok, TOKEN, n)) { fprintf(stderr, "bad token\n"); exit(1); }
    lua_settop(L, 0);
}
#define MODE "libcurl + lua-cjson decode in a Lua 5.4 state"
#else
static const char EXPECTED[] = "{\"MediaContainer\":{\"size\":0,\"token\":\"transient-bench-token\"}}";
static void check(void) {
    if (body_len != sizeof EXPECTED - 1 || memcmp(body, EXPECTED, body_len)) { fprintf(stderr, "bad body\n"); exit(1); }
}
#define MODE "libcurl only, NO JSON decode (body compared byte-wise)"
#endif

static const char *flags = "";
static char url[512];

static void call(CURL *h) {
    long status = 0;
    body_len = 0;
    if (strchr(flags, 'r')) {
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) { fprintf(stderr, "curl: %s\n", curl_easy_strerror(rc)); exit(1); }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) { fprintf(stderr, "status %ld\n", status); exit(1); }
    check();
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s BASE_URL N\n", argv[0]); return 2; }
    snprintf(url, sizeof url, "%s/security/token?type=delegation&scope=all", argv[1]);
    long n = atol(argv[2]);
    static char errbuf[CURL_ERROR_SIZE];
    if (argc > 3) flags = argv[3];
#ifdef WITH_CJSON
    L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_dostring(L, "return require('cjson').decode") != LUA_OK) { fprintf(stderr, "%s\n", lua_tostring(L, -1)); return 1; }
    decode_ref = luaL_ref(L, LUA_REGISTRYINDEX);
#endif
    double t0 = now(), t1 = t0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, "X-Plex-Token: bench-token");
    hdr = curl_slist_append(hdr, "X-Plex-Client-Identifier: bench");
    hdr = curl_slist_append(hdr, "Accept: application/json");
    /* The same request as plexauth's, User-Agent included (bench/run sets it). */
    const char *ua = getenv("BENCH_UA");
    char ua_line[256];
    if (ua && *ua) {
        snprintf(ua_line, sizeof ua_line, "User-Agent: %s", ua);
        hdr = curl_slist_append(hdr, ua_line);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (strchr(flags, 'h')) curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    if (strchr(flags, 'o') || strchr(flags, 'p')) {
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)1048576);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    }
    if (strchr(flags, 'o') || strchr(flags, 't')) {
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    }
    if (strchr(flags, 'o') || strchr(flags, 'u'))
        hdr = curl_slist_append(hdr, "User-Agent: plexauth/0.1.0 (Lua 5.4; libcurl 7.88.1)");
    if (strchr(flags, 'U')) curl_easy_setopt(h, CURLOPT_USERAGENT, "plexauth/0.1.0 (Lua 5.4; libcurl 7.88.1)");
    if (strchr(flags, 'x')) hdr = curl_slist_append(hdr, "X-Plex-Product: plexauth/0.1.0 (Lua 5.4; libcurl 7.88.1)");
    for (long i = 0; i < n; i++) {
        call(h);
        if (i == 0) t1 = now();
    }
    double t2 = now();
    printf("RESULT n=%ld setup_s=%.9f loop_s=%.9f mode=%s%s%s\n", n, t1 - t0, t2 - t1, MODE,
           *flags ? " flags=" : "", flags);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    curl_global_cleanup();
#ifdef WITH_CJSON
    lua_close(L);
#endif
    return 0;
}
