/* The few POSIX calls the CLI's token store needs and Lua lacks: file
 * modes, owners, a directory made with a mode, an atomic private write,
 * isatty. Policy (where the store is, what is refused) is the CLI's. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "compat.h"
#include "transfer.h"

static int fail(lua_State *L, const char *what)
{
    int e = errno;
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", what, strerror(e));
    lua_pushinteger(L, e);
    return 3;
}

/* core.stat(path) -> {mode=<permission bits>, uid=, mtime=<seconds>,
 * kind="file"|"dir"|"link"|"other"} or nil, message, errno. Does not follow a final symlink
 * (kind "link"). */
static int l_stat(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (lstat(path, &st) != 0)
        return fail(L, path);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
    lua_setfield(L, -2, "mode");
    lua_pushinteger(L, (lua_Integer)st.st_uid);
    lua_setfield(L, -2, "uid");
    lua_pushinteger(L, (lua_Integer)st.st_mtime);
    lua_setfield(L, -2, "mtime");
    lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir"
                      : S_ISLNK(st.st_mode) ? "link" : "other");
    lua_setfield(L, -2, "kind");
    return 1;
}

/* core.mkdir(path, mode) -> true or nil, message, errno (EEXIST included). */
static int l_mkdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    mode_t mode = (mode_t)luaL_checkinteger(L, 2);
    if (mkdir(path, mode) != 0)
        return fail(L, path);
    lua_pushboolean(L, 1);
    return 1;
}

/* core.chmod(path, mode) -> true or nil, message, errno. */
static int l_chmod(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (chmod(path, (mode_t)luaL_checkinteger(L, 2)) != 0)
        return fail(L, path);
    lua_pushboolean(L, 1);
    return 1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* core.write_private(path, data) -> true or nil, message, errno: writes a
 * temporary file beside path (mode 0600, created exclusively), fsyncs it,
 * renames it over path and fsyncs the directory. SIGINT, SIGTERM, SIGHUP
 * and SIGQUIT wait until it is done, so an interrupted write leaves either
 * the old file or the new one, never a part. */
static int l_write_private(lua_State *L)
{
    size_t len, plen = 0;
    const char *path = luaL_checklstring(L, 1, &plen);
    const char *data = luaL_checklstring(L, 2, &len);
    char *tmp = lua_newuserdata(L, plen + 32);
    char *dir = lua_newuserdata(L, plen + 2);
    const char *slash = strrchr(path, '/');
    sigset_t block, old;
    int fd = -1, dfd, ok = 0, saved = 0;
    snprintf(tmp, plen + 32, "%s.%ld.tmp", path, (long)getpid());
    if (slash == NULL) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
    }
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGQUIT);
    sigprocmask(SIG_BLOCK, &block, &old);
    unlink(tmp); /* a stale one of an earlier process with this pid */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0 && write_all(fd, data, len) == 0 && fsync(fd) == 0 &&
        close(fd) == 0) {
        fd = -1;
        if (rename(tmp, path) == 0) {
            ok = 1;
            dfd = open(dir, O_RDONLY | O_CLOEXEC);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
        }
    }
    if (!ok) {
        saved = errno;
        if (fd >= 0)
            close(fd);
        unlink(tmp);
    }
    sigprocmask(SIG_SETMASK, &old, NULL); /* a pending signal arrives now */
    if (!ok) {
        errno = saved;
        return fail(L, path);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* core.isatty(fd) -> boolean. */
static int l_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)) == 1);
    return 1;
}

/* core.getuid() -> the real user id. */
static int l_getuid(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)getuid());
    return 1;
}

static const luaL_Reg funcs[] = {
    {"stat", l_stat},
    {"mkdir", l_mkdir},
    {"chmod", l_chmod},
    {"write_private", l_write_private},
    {"isatty", l_isatty},
    {"getuid", l_getuid},
    {NULL, NULL}
};

void pa_open_sys(lua_State *L)
{
    pa_setfuncs(L, funcs, 0);
}
