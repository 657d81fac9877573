/* One HTTP transfer on a libcurl easy handle: its buffers, limits and
 * options, and its outcome as Lua values. Shared by the blocking session
 * (plexauth_core.c) and the multi (multi.c). Curl callbacks only copy
 * bytes into the buffers; no Lua API runs inside curl. */
#ifndef PLEXAUTH_TRANSFER_H
#define PLEXAUTH_TRANSFER_H

#include <stddef.h>
#include <curl/curl.h>
#include "compat.h"

typedef struct {
    char *data;
    size_t len, cap;
} pa_buffer;

typedef struct {
    CURL *curl;
    struct curl_slist *headers;      /* default request headers */
    struct curl_slist *call_headers; /* per-call headers, freed after use */
    struct curl_slist *resolve;
    pa_buffer body, hdr;
    size_t max_bytes;
    int too_large, oom;
    char errbuf[CURL_ERROR_SIZE];
} pa_transfer;

/* curl_global_init once per process (under a mutex); its result. */
CURLcode pa_global_init(void);
/* curl_version_info, read once by pa_global_init. */
curl_version_info_data *pa_curl_version(void);

void pa_buf_free(pa_buffer *b);

/* Zeroes t and gives it a new easy handle with the fixed options
 * (no signals, no redirects, no proxy, http(s) only, the callbacks).
 * Raises a Lua error when libcurl cannot. */
void pa_transfer_init(lua_State *L, pa_transfer *t);
/* Points the handle's callbacks, error buffer and size limit at t: after
 * pa_transfer_init, or after curl_easy_duphandle copied another's. */
void pa_transfer_bind(pa_transfer *t);
/* Frees the handle, the header lists and the buffers. Idempotent. */
void pa_transfer_free(pa_transfer *t);

/* Builds a curl_slist from the array of strings at idx into *list (freeing
 * what was there). Raises on a non-string entry. */
void pa_check_slist(lua_State *L, int idx, const char *what,
                    struct curl_slist **list);
/* Applies the option table at idx: timeout, connect_timeout (seconds),
 * verify_tls, ca_file, user_agent, max_response_bytes, resolve, headers. */
void pa_transfer_configure(lua_State *L, pa_transfer *t, int idx);
/* Sets method, URL and body for the next transfer and clears the buffers.
 * With copy, libcurl keeps its own copy of the body (for transfers that
 * outlive the Lua call that started them). */
void pa_transfer_request(pa_transfer *t, const char *method, const char *url,
                         const char *body, size_t bodylen, int copy);
/* Pushes the outcome of a finished transfer: the response table and the
 * decode error (or nil), 2 values; or nil, reason, curl_code, message, 4
 * values. decode is the stack index of the JSON decoder. Returns the count. */
int pa_push_result(lua_State *L, pa_transfer *t, CURLcode rc, int decode);
/* Drops a body buffer that grew large, so it does not pin memory between
 * calls. */
void pa_transfer_trim(pa_transfer *t);

/* Registers core.multi, core.timer and core.poll. Expects the module table
 * and the JSON decoder as the two top values; leaves them there. */
void pa_open_multi(lua_State *L);
/* Registers the file and terminal helpers (sys.c) into the table at the
 * top of the stack. */
void pa_open_sys(lua_State *L);

#endif
