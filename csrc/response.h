/* Turning raw response bytes into Lua values; no libcurl here, so the fuzz
 * target can call it without a socket. */
#ifndef PLEXAUTH_RESPONSE_H
#define PLEXAUTH_RESPONSE_H

#include <stddef.h>
#include "compat.h"

/* Pushes a new table of the header lines in buf (CRLF- or LF-separated
 * "Name: value" lines; the status line and malformed lines are skipped).
 * Names are lower-cased in place; repeated names are joined with ", ". */
void pa_push_headers(lua_State *L, char *buf, size_t len);

/* True when a Content-Type value names JSON (application/json or +json). */
int pa_is_json(const char *ct, size_t len);

/* Pushes the response table {status_code=, headers=, content_type=, body=,
 * object=} for a raw header block and body, decoding the body with the
 * function at stack index decode (cjson.safe's decode) when its type is JSON.
 * Then pushes the decoder's error message, or nil. Pushes two values. */
void pa_push_response(lua_State *L, int decode, long status,
                      char *hdr, size_t hdrlen,
                      const char *body, size_t bodylen);

/* As pa_push_response; with lazy set, the headers table is left for later:
 * the response gets the raw header block as raw_headers instead (unless
 * Content-Type is repeated, which needs the joined value at once). */
void pa_push_response_raw(lua_State *L, int decode, long status,
                          char *hdr, size_t hdrlen,
                          const char *body, size_t bodylen, int lazy);

#endif
