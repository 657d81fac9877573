/* plexauth.core.multi: many transfers at once on libcurl's multi-socket
 * interface, for the non-blocking mode and for parallel probes.
 *
 * A multi is one pollable object: an epoll set holding every socket libcurl
 * wants watched plus a timerfd for libcurl's timer, exposed as a single
 * descriptor (pollfd/events/timeout, cqueues' protocol). The loop watches
 * that one descriptor and calls step(), which never blocks. libcurl's socket
 * and timer callbacks only update the epoll set and the timerfd; no Lua runs
 * inside libcurl.
 *
 * Transfers live in slots that keep their easy handle for reuse (a small
 * pool); all share the multi's connection cache, DNS cache and, through a
 * share object, TLS sessions. The multi owns everything: close() and __gc
 * remove every transfer, free every handle and close both descriptors.
 *
 * Pitfalls of the multi-socket interface handled here: a REMOVE event may
 * never come for a socket libcurl closed, and its number may come back for
 * a new socket, so the epoll set is updated by trying MOD, then ADD, and
 * errors for stale descriptors are ignored (the kernel drops a closed
 * descriptor from the set by itself); a timer of 0 ms means "now" (the
 * timerfd is armed for 1 ns, since 0 would disarm it) and -1 means "delete". */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <curl/curl.h>
#include "compat.h"
#include "transfer.h"

#define MULTI_MT "plexauth.core.multi"
#define TIMER_MT "plexauth.core.timer"
#define DECODER lua_upvalueindex(1)
#define SLOT_SPAN 65536.0 /* a transfer id is generation * SLOT_SPAN + slot */
#define MAX_SLOTS 65535
#define MAX_EVENTS 64

enum { X_FREE, X_RUNNING, X_DONE };

typedef struct {
    pa_transfer t;
    int state;
    int index;        /* in slots */
    CURLcode result;
    double gen;       /* uses of this slot so far */
} xfer;

typedef struct {
    CURLM *multi;
    CURLSH *share;
    pa_transfer tmpl; /* configured, never performed: what new handles copy */
    xfer **slots;
    int nslots;
    int running;      /* slots in X_RUNNING */
    int idle;         /* free slots that keep an easy handle */
    int max_idle;
    int epfd, tfd;
    int timer_now;    /* libcurl asked for a timeout action at once */
    double deadline;  /* of libcurl's timer, monotonic seconds; < 0: none */
} multi;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Arms a timerfd for seconds from now (0: at once; < 0: disarmed). */
static void arm(int fd, double seconds)
{
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (seconds >= 0) {
        if (seconds > 1e9)
            seconds = 1e9;
        its.it_value.tv_sec = (time_t)seconds;
        its.it_value.tv_nsec = (long)((seconds - (double)its.it_value.tv_sec) * 1e9);
        if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
            its.it_value.tv_nsec = 1; /* 0 would disarm */
    }
    timerfd_settime(fd, 0, &its, NULL);
}

/* Reads a timerfd's expiry count; true when it had expired. */
static int drain(int fd)
{
    uint64_t n = 0;
    return read(fd, &n, sizeof n) == (ssize_t)sizeof n && n > 0;
}

/* ---- libcurl callbacks: record interest only ---------------------------- */

static int on_socket(CURL *easy, curl_socket_t s, int what, void *ud, void *sockp)
{
    multi *m = ud;
    struct epoll_event ev;
    (void)easy;
    (void)sockp;
    memset(&ev, 0, sizeof ev);
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(m->epfd, EPOLL_CTL_DEL, s, &ev); /* EBADF/ENOENT: gone already */
        return 0;
    }
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) |
                ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    ev.data.fd = s;
    /* Trust the descriptor, not our memory of it: a socket we think is
     * watched may have been closed (and dropped by the kernel) without a
     * REMOVE, and a new one may carry its number. */
    if (epoll_ctl(m->epfd, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT)
        epoll_ctl(m->epfd, EPOLL_CTL_ADD, s, &ev);
    return 0;
}

static int on_timer(CURLM *cm, long ms, void *ud)
{
    multi *m = ud;
    (void)cm;
    if (ms < 0) {
        m->deadline = -1;
        m->timer_now = 0;
        arm(m->tfd, -1);
    } else {
        m->timer_now = ms == 0;
        m->deadline = now() + (double)ms / 1000.0;
        arm(m->tfd, (double)ms / 1000.0);
    }
    return 0;
}

/* ---- the multi ----------------------------------------------------------- */

static multi *to_multi(lua_State *L)
{
    return luaL_checkudata(L, 1, MULTI_MT);
}

static multi *check_multi(lua_State *L)
{
    multi *m = to_multi(L);
    if (m->multi == NULL)
        luaL_error(L, "plexauth.core: multi is closed");
    return m;
}

static void multi_close(multi *m)
{
    int i;
    for (i = 0; i < m->nslots; i++) {
        xfer *x = m->slots[i];
        if (x == NULL)
            continue;
        if (x->state == X_RUNNING && m->multi != NULL && x->t.curl != NULL)
            curl_multi_remove_handle(m->multi, x->t.curl);
        pa_transfer_free(&x->t);
        free(x);
    }
    free(m->slots);
    m->slots = NULL;
    m->nslots = m->running = m->idle = 0;
    if (m->multi != NULL)
        curl_multi_cleanup(m->multi); /* may still call on_socket: fds open */
    m->multi = NULL;
    pa_transfer_free(&m->tmpl);        /* before the share it uses */
    if (m->share != NULL)
        curl_share_cleanup(m->share);
    m->share = NULL;
    if (m->tfd >= 0)
        close(m->tfd);
    if (m->epfd >= 0)
        close(m->epfd);
    m->tfd = m->epfd = -1;
    m->deadline = -1;
}

/* core.multi(opts) -> a multi. opts as for session:configure, plus
 * max_connections (default 8; 0: no limit): connections open at once, and
 * easy handles kept for reuse. */
static int l_multi(lua_State *L)
{
    multi *m;
    long maxc = 8;
    struct epoll_event ev;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "max_connections");
    if (!lua_isnil(L, -1))
        maxc = (long)luaL_checkinteger(L, -1);
    lua_pop(L, 1);
    m = lua_newuserdata(L, sizeof *m);
    memset(m, 0, sizeof *m);
    m->epfd = m->tfd = -1;
    m->deadline = -1;
    luaL_getmetatable(L, MULTI_MT);
    lua_setmetatable(L, -2); /* from here __gc frees what exists */
    pa_transfer_init(L, &m->tmpl);
    pa_transfer_configure(L, &m->tmpl, 1);
    m->max_idle = maxc > 0 ? (int)(maxc < 64 ? maxc : 64) : 8;
    m->epfd = epoll_create1(EPOLL_CLOEXEC);
    m->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (m->epfd < 0 || m->tfd < 0)
        return luaL_error(L, "plexauth.core: %s", strerror(errno));
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.fd = m->tfd;
    if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->tfd, &ev) != 0)
        return luaL_error(L, "plexauth.core: %s", strerror(errno));
    m->multi = curl_multi_init();
    m->share = curl_share_init();
    if (m->multi == NULL || m->share == NULL)
        return luaL_error(L, "plexauth.core: curl_multi_init failed");
    curl_share_setopt(m->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_easy_setopt(m->tmpl.curl, CURLOPT_SHARE, m->share);
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
    if (maxc > 0) {
        curl_multi_setopt(m->multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxc);
        curl_multi_setopt(m->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, maxc);
        curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, maxc);
    }
    return 1;
}

static double id_of(const xfer *x)
{
    return x->gen * SLOT_SPAN + (double)(x->index + 1);
}

/* The slot of a transfer id, or NULL when the id is stale or not one. */
static xfer *lookup(multi *m, double id)
{
    double gen = floor(id / SLOT_SPAN);
    double slot = id - gen * SLOT_SPAN;
    xfer *x;
    if (!(slot >= 1 && slot <= m->nslots))
        return NULL;
    x = m->slots[(int)slot - 1];
    return x != NULL && x->gen == gen && x->state != X_FREE ? x : NULL;
}

/* A free slot, preferring one that keeps an easy handle. */
static xfer *free_slot(lua_State *L, multi *m)
{
    int i, empty = -1;
    xfer **grown;
    for (i = 0; i < m->nslots; i++) {
        xfer *x = m->slots[i];
        if (x != NULL && x->state == X_FREE && x->t.curl != NULL)
            return x;
        if (empty < 0 && (x == NULL || x->state == X_FREE))
            empty = i;
    }
    if (empty < 0) {
        if (m->nslots >= MAX_SLOTS)
            luaL_error(L, "plexauth.core: too many transfers");
        grown = realloc(m->slots, (size_t)(m->nslots + 1) * sizeof *grown);
        if (grown == NULL)
            luaL_error(L, "plexauth.core: out of memory");
        m->slots = grown;
        m->slots[m->nslots] = NULL;
        empty = m->nslots++;
    }
    if (m->slots[empty] == NULL) {
        m->slots[empty] = calloc(1, sizeof(xfer));
        if (m->slots[empty] == NULL)
            luaL_error(L, "plexauth.core: out of memory");
        m->slots[empty]->index = empty;
    }
    return m->slots[empty];
}

/* Returns a finished or cancelled slot to the pool: it keeps its easy
 * handle while fewer than max_idle do. */
static void release(multi *m, xfer *x)
{
    x->state = X_FREE;
    curl_slist_free_all(x->t.call_headers);
    x->t.call_headers = NULL;
    if (m->idle < m->max_idle) {
        m->idle++;
        pa_transfer_trim(&x->t);
    } else {
        pa_transfer_free(&x->t);
    }
}

/* multi:start(method, url [, headers [, body]]) -> id. headers, when given,
 * replaces the configured header list for this transfer. */
static int l_start(lua_State *L)
{
    multi *m = check_multi(L);
    const char *method = luaL_checkstring(L, 2);
    const char *url = luaL_checkstring(L, 3);
    size_t bodylen = 0;
    const char *body = luaL_optlstring(L, 5, NULL, &bodylen);
    xfer *x = free_slot(L, m);
    CURL *c = x->t.curl;
    CURLMcode mc;
    if (c == NULL) {
        /* A copy of the template's options; per-handle pointers after. */
        c = curl_easy_duphandle(m->tmpl.curl);
        if (c == NULL)
            return luaL_error(L, "plexauth.core: curl_easy_duphandle failed");
        x->t.curl = c;
        x->t.max_bytes = m->tmpl.max_bytes;
        pa_transfer_bind(&x->t);
        curl_easy_setopt(c, CURLOPT_SHARE, m->share);
        curl_easy_setopt(c, CURLOPT_RESOLVE, m->tmpl.resolve);
        curl_easy_setopt(c, CURLOPT_PRIVATE, (char *)x);
        m->idle++; /* a free slot with a handle, until it runs */
    }
    if (!lua_isnoneornil(L, 4)) {
        pa_check_slist(L, 4, "headers", &x->t.call_headers);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->t.call_headers);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, m->tmpl.headers);
    }
    pa_transfer_request(&x->t, method, url, body, bodylen, 1);
    mc = curl_multi_add_handle(m->multi, c);
    if (mc != CURLM_OK)
        return luaL_error(L, "plexauth.core: %s", curl_multi_strerror(mc));
    m->idle--;
    x->state = X_RUNNING;
    x->gen += 1;
    m->running++;
    lua_pushnumber(L, id_of(x));
    return 1;
}

static int socket_flags(uint32_t events)
{
    return ((events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
           ((events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
           ((events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
}

/* Keeps the timerfd in step with libcurl's own idea of its next timeout,
 * in case an expiry was consumed without libcurl re-arming it. */
static void sync_timer(multi *m)
{
    long ms = -1;
    if (curl_multi_timeout(m->multi, &ms) != CURLM_OK)
        return;
    on_timer(m->multi, ms, m);
}

/* multi:step() -> running, done: runs what is ready without blocking.
 * running is the number of transfers still in flight; done is a list of
 * the ids that finished (their results wait for multi:result), or nil. */
static int l_step(lua_State *L)
{
    multi *m = check_multi(L);
    struct epoll_event ev[MAX_EVENTS];
    int i, n, due = 0, round, still, left, ndone = 0;
    CURLMsg *msg;
    n = epoll_wait(m->epfd, ev, MAX_EVENTS, 0);
    for (i = 0; i < n; i++) {
        if (ev[i].data.fd == m->tfd) {
            due |= drain(m->tfd);
            continue;
        }
        curl_multi_socket_action(m->multi, ev[i].data.fd,
                                 socket_flags(ev[i].events), &still);
    }
    if (m->deadline >= 0 && now() >= m->deadline)
        due = 1;
    /* A timer of 0 set during an action asks for another one at once. */
    for (round = 0; due && round < 8; round++) {
        m->timer_now = 0;
        curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &still);
        due = m->timer_now;
    }
    while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
        char *priv = NULL;
        xfer *x;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        x = (xfer *)priv;
        x->result = msg->data.result;     /* msg is invalid after removal */
        curl_multi_remove_handle(m->multi, x->t.curl);
        x->state = X_DONE;
        m->running--;
        if (ndone == 0) {
            lua_pushnil(L); /* the running count, set below */
            lua_newtable(L);
        }
        lua_pushnumber(L, id_of(x));
        lua_rawseti(L, -2, ++ndone);
    }
    sync_timer(m);
    lua_pushinteger(L, m->running);
    if (ndone == 0)
        return 1;
    lua_replace(L, -3);
    return 2;
}

/* multi:result(id) -> as session:perform, for a finished transfer; frees its
 * slot. Nothing when the id is not a finished transfer. */
static int l_result(lua_State *L)
{
    multi *m = check_multi(L);
    xfer *x = lookup(m, luaL_checknumber(L, 2));
    int n;
    if (x == NULL || x->state != X_DONE)
        return 0;
    n = pa_push_result(L, &x->t, x->result, DECODER);
    release(m, x);
    return n;
}

/* multi:cancel(id) -> true when a transfer in flight (or finished and not
 * collected) was removed at once; its connection is closed. */
static int l_cancel(lua_State *L)
{
    multi *m = check_multi(L);
    xfer *x = lookup(m, luaL_checknumber(L, 2));
    if (x == NULL) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (x->state == X_RUNNING) {
        curl_multi_remove_handle(m->multi, x->t.curl);
        m->running--;
    }
    release(m, x);
    sync_timer(m);
    lua_pushboolean(L, 1);
    return 1;
}

/* multi:wait(seconds) -> true when something is ready: blocks in poll(2)
 * on the multi's descriptor, for the blocking driver. */
static int l_wait(lua_State *L)
{
    multi *m = check_multi(L);
    double s = luaL_optnumber(L, 2, -1);
    struct pollfd p;
    int ms = s < 0 ? -1 : (s > 2147483.0 ? 2147483647 : (int)ceil(s * 1000.0));
    p.fd = m->epfd;
    p.events = POLLIN;
    p.revents = 0;
    lua_pushboolean(L, poll(&p, 1, ms) > 0);
    return 1;
}

/* multi:kick(): makes the descriptor readable at once, so that a loop
 * waiting on it wakes (step() then finds nothing to do). */
static int l_kick(lua_State *L)
{
    arm(check_multi(L)->tfd, 0);
    return 0;
}

static int l_running(lua_State *L)
{
    lua_pushinteger(L, check_multi(L)->running);
    return 1;
}

static int l_pollfd(lua_State *L)
{
    lua_pushinteger(L, check_multi(L)->epfd);
    return 1;
}

static int l_events(lua_State *L)
{
    check_multi(L);
    lua_pushliteral(L, "r");
    return 1;
}

/* multi:timeout() -> seconds until libcurl's timer is due (0 when due), or
 * nil when it has none. */
static int l_timeout(lua_State *L)
{
    multi *m = check_multi(L);
    double left;
    if (m->deadline < 0)
        return 0;
    left = m->deadline - now();
    lua_pushnumber(L, left > 0 ? left : 0);
    return 1;
}

/* multi:close(); also __gc and __close. Idempotent. */
static int l_multi_close(lua_State *L)
{
    multi_close(to_multi(L));
    return 0;
}

static int l_multi_closed(lua_State *L)
{
    lua_pushboolean(L, to_multi(L)->multi == NULL);
    return 1;
}

static int l_multi_tostring(lua_State *L)
{
    lua_pushfstring(L, "plexauth.core.multi (%p)", lua_topointer(L, 1));
    return 1;
}

/* ---- timer: a timerfd for loops that can only wait on descriptors -------- */

typedef struct {
    int fd;
} timer;

static timer *check_timer(lua_State *L)
{
    timer *t = luaL_checkudata(L, 1, TIMER_MT);
    if (t->fd < 0)
        luaL_error(L, "plexauth.core: timer is closed");
    return t;
}

/* core.timer() -> a timer: a descriptor that becomes readable when armed
 * time runs out. */
static int l_timer(lua_State *L)
{
    timer *t = lua_newuserdata(L, sizeof *t);
    t->fd = -1;
    luaL_getmetatable(L, TIMER_MT);
    lua_setmetatable(L, -2);
    t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (t->fd < 0)
        return luaL_error(L, "plexauth.core: %s", strerror(errno));
    return 1;
}

/* timer:arm(seconds): readable after seconds (0: at once); re-arming
 * replaces the time. timer:disarm(): never. */
static int l_timer_arm(lua_State *L)
{
    timer *t = check_timer(L);
    double s = luaL_checknumber(L, 2);
    drain(t->fd);
    arm(t->fd, s > 0 ? s : 0);
    return 0;
}

static int l_timer_disarm(lua_State *L)
{
    timer *t = check_timer(L);
    arm(t->fd, -1);
    drain(t->fd);
    return 0;
}

/* timer:clear() -> true when it had run out (and is readable no more). */
static int l_timer_clear(lua_State *L)
{
    lua_pushboolean(L, drain(check_timer(L)->fd));
    return 1;
}

static int l_timer_getfd(lua_State *L)
{
    lua_pushinteger(L, check_timer(L)->fd);
    return 1;
}

static int l_timer_close(lua_State *L)
{
    timer *t = luaL_checkudata(L, 1, TIMER_MT);
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    return 0;
}

/* ---- poll(2) for plexauth's own loop ------------------------------------- */

/* core.poll(fds [, seconds]) -> list of the descriptors of fds that are
 * readable (or in error), after waiting at most seconds (default: no
 * limit) for one to be. An interrupted wait returns an empty list. */
static int l_poll(lua_State *L)
{
    int n, i, k = 0, ms, rc;
    double s = luaL_optnumber(L, 2, -1);
    struct pollfd *p;
    luaL_checktype(L, 1, LUA_TTABLE);
    n = (int)pa_rawlen(L, 1);
    p = lua_newuserdata(L, (size_t)(n > 0 ? n : 1) * sizeof *p);
    for (i = 0; i < n; i++) {
        lua_rawgeti(L, 1, i + 1);
        p[i].fd = (int)luaL_checkinteger(L, -1);
        p[i].events = POLLIN;
        p[i].revents = 0;
        lua_pop(L, 1);
    }
    ms = s < 0 ? -1 : (s > 2147483.0 ? 2147483647 : (int)ceil(s * 1000.0));
    rc = poll(p, (nfds_t)n, ms);
    lua_createtable(L, rc > 0 ? rc : 0, 0);
    for (i = 0; rc > 0 && i < n; i++) {
        if (p[i].revents != 0) {
            lua_pushinteger(L, p[i].fd);
            lua_rawseti(L, -2, ++k);
        }
    }
    return 1;
}

/* ---- registration -------------------------------------------------------- */

static const luaL_Reg multi_methods[] = {
    {"start", l_start},
    {"step", l_step},
    {"result", l_result},
    {"cancel", l_cancel},
    {"wait", l_wait},
    {"kick", l_kick},
    {"running", l_running},
    {"pollfd", l_pollfd},
    {"events", l_events},
    {"timeout", l_timeout},
    {"close", l_multi_close},
    {"closed", l_multi_closed},
    {NULL, NULL}
};

static const luaL_Reg timer_methods[] = {
    {"arm", l_timer_arm},
    {"disarm", l_timer_disarm},
    {"clear", l_timer_clear},
    {"getfd", l_timer_getfd},
    {"pollfd", l_timer_getfd},
    {"close", l_timer_close},
    {NULL, NULL}
};

static const luaL_Reg funcs[] = {
    {"multi", l_multi},
    {"timer", l_timer},
    {"poll", l_poll},
    {NULL, NULL}
};

/* Pushes a new metatable named name with methods (each given the decoder
 * at index decode as upvalue), __gc and __close = closer. */
static void new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                      int decode, lua_CFunction closer)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    lua_pushvalue(L, decode);
    pa_setfuncs(L, methods, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, closer);
    lua_setfield(L, -2, "__gc");
#if LUA_VERSION_NUM >= 504
    lua_pushcfunction(L, closer);
    lua_setfield(L, -2, "__close");
#endif
}

void pa_open_multi(lua_State *L)
{
    int decode = lua_gettop(L);
    new_class(L, MULTI_MT, multi_methods, decode, l_multi_close);
    lua_pushcfunction(L, l_multi_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    new_class(L, TIMER_MT, timer_methods, decode, l_timer_close);
    lua_pop(L, 1);
    lua_pushvalue(L, decode - 1);
    lua_pushvalue(L, decode);
    pa_setfuncs(L, funcs, 1);
    lua_pop(L, 1);
}
