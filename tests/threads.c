/* Thread test: THREADS threads start together, each with its own lua_State
 * and plexauth client (plexauth linked statically, `make static`), and make
 * CALLS get_transient_token calls each against the fake PMS at $PLEX_URL
 * (token $PLEX_TOKEN). Every call must succeed with a token not seen before
 * in that thread. Exits 0 when all THREADS * CALLS calls succeeded. Run
 * under helgrind by `make thread-test`. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "plexauth.h"

#define THREADS 4
#define CALLS 200

static const char snippet[] =
    "local url, token, n = ...\n"
    "local plexauth = require('plexauth')\n"
    "local count = 0\n"
    "local ok, err = pcall(function()\n"
    "  local client = plexauth.new{ server_url = url, token = token, retries = false }\n"
    "  local seen = {}\n"
    "  for i = 1, n do\n"
    "    local r = client:get_transient_token()\n"
    "    if type(r.token) ~= 'string' or seen[r.token] then\n"
    "      error('call ' .. i .. ': missing or repeated token', 0)\n"
    "    end\n"
    "    seen[r.token] = true\n"
    "    count = count + 1\n"
    "  end\n"
    "  client:close()\n"
    "end)\n"
    "if not ok then error(tostring(err) .. ' (after ' .. count .. ' calls)', 0) end\n"
    "return count\n";

typedef struct {
    int id;
    int calls;
    char error[512];
} job;

static const char *url, *token;
static pthread_barrier_t start;

static void *run(void *arg)
{
    job *j = arg;
    lua_State *L;
    pthread_barrier_wait(&start);
    L = luaL_newstate();
    if (L == NULL) {
        snprintf(j->error, sizeof j->error, "luaL_newstate failed");
        return NULL;
    }
    luaL_openlibs(L);
    if (plexauth_preload(L) != 0 ||
        luaL_loadbuffer(L, snippet, sizeof snippet - 1, "=thread") != 0) {
        snprintf(j->error, sizeof j->error, "%s", lua_tostring(L, -1));
    } else {
        lua_pushstring(L, url);
        lua_pushstring(L, token);
        lua_pushinteger(L, CALLS);
        if (lua_pcall(L, 3, 1, 0) != 0)
            snprintf(j->error, sizeof j->error, "%s", lua_tostring(L, -1));
        else
            j->calls = (int)lua_tointeger(L, -1);
    }
    lua_close(L);
    return NULL;
}

int main(void)
{
    pthread_t tid[THREADS];
    job jobs[THREADS];
    int i, started = 0, total = 0, failed = 0;

    url = getenv("PLEX_URL");
    token = getenv("PLEX_TOKEN");
    if (url == NULL || token == NULL) {
        fprintf(stderr, "threads: PLEX_URL and PLEX_TOKEN must be set\n");
        return 2;
    }
    memset(jobs, 0, sizeof jobs);
    pthread_barrier_init(&start, NULL, THREADS);
    for (i = 0; i < THREADS; i++) {
        jobs[i].id = i;
        if (pthread_create(&tid[i], NULL, run, &jobs[i]) != 0) {
            fprintf(stderr, "threads: pthread_create failed\n");
            return 1; /* the started threads wait at the barrier forever */
        }
        started++;
    }
    for (i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    pthread_barrier_destroy(&start);
    for (i = 0; i < THREADS; i++) {
        total += jobs[i].calls;
        if (jobs[i].calls != CALLS) {
            failed = 1;
            fprintf(stderr, "threads: thread %d: %d of %d calls: %s\n", i,
                    jobs[i].calls, CALLS, jobs[i].error);
        }
    }
    printf("threads: %d threads x %d calls, %d succeeded\n", THREADS, CALLS, total);
    return failed;
}
