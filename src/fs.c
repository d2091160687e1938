/* agent.fs: the file system as the pipeline needs it: whole-file reads with a cap, atomic
 * writes, stat, sorted listings, the tree walk (walk.c, with .gitignore from ignore.c), mkdir -p,
 * realpath, remove, rename, advisory locks and the working directory. Failures return
 * nil, "<op> '<path>': <reason>", errno (or a tag); wrong argument types raise. */
#include "agent_limits.h"
#include "host.h"
#include "luax.h"
#include "walk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#define FD_BOX "agent.fs.Fd"           /* an fd owned by Lua while a read is under way */
#define WALK_BOX "agent.fs.WalkResult" /* walk.c's result, owned by Lua while it is pushed */
#define NAMES_BOX "agent.fs.Names"     /* walk_list_dir's names, likewise */
#define LOCK_T "agent.Lock"

/* ==== Arguments =========================================================================== */

/* The path at arg, or NULL when it holds a NUL byte: no file can be named so, and the C calls
 * would silently see a shorter path. Raises when arg is not a string. */
static const char *path_arg(lua_State *L, int arg)
{
  size_t len;
  const char *s = luaL_checklstring(L, arg, &len);
  return strlen(s) == len ? s : NULL;
}

/* Pushes fail, "<op> '<path with \0 shown>': path contains a NUL byte", EINVAL. */
static int nul_fail(lua_State *L, const char *op, int arg)
{
  size_t len;
  const char *s = lua_tolstring(L, arg, &len);
  luaL_Buffer b;
  luaL_pushfail(L);
  luaL_buffinit(L, &b);
  luaL_addstring(&b, op);
  luaL_addstring(&b, " '");
  for (size_t i = 0; i < len; i++) {
    if (s[i])
      luaL_addchar(&b, s[i]);
    else
      luaL_addstring(&b, "\\0");
  }
  luaL_addstring(&b, "': path contains a NUL byte");
  luaL_pushresult(&b);
  lua_pushinteger(L, EINVAL);
  return 3;
}

/* The options table at arg: absent (returns 0) or a table whose keys are all in `known`
 * (returns 1). Anything else raises, so a misspelt option is not silently ignored. */
static int opts_arg(lua_State *L, int arg, const char *const known[])
{
  if (lua_isnoneornil(L, arg))
    return 0;
  luaL_checktype(L, arg, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, arg)) { /* stack: key value */
    lua_pop(L, 1);
    const char *key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    size_t i = 0;
    while (key && known[i] && strcmp(key, known[i]) != 0)
      i++;
    if (!key || !known[i])
      return luaL_error(L, "unknown option '%s'", key ? key : luaL_typename(L, -1));
  }
  return 1;
}

/* ==== Lua-owned C resources ===============================================================
 * A C resource that must survive Lua calls (which may raise: out of memory, a script's memory
 * cap) lives in a userdata marked to-be-closed, so it is released on return and on error. */

/* Pushes a zeroed, to-be-closed box of `size` bytes with metatable tname. */
static void *push_box(lua_State *L, size_t size, const char *tname)
{
  void *p = lua_newuserdatauv(L, size, 0);
  memset(p, 0, size);
  luaL_setmetatable(L, tname);
  lua_toclose(L, -1);
  return p;
}

/* fdbox:__close() and fdbox:__gc(): closes the fd; idempotent. */
static int fdbox_close(lua_State *L)
{
  int *fd = luaL_checkudata(L, 1, FD_BOX);
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
  return 0;
}

/* A to-be-closed box for a file descriptor, holding -1 until the caller stores one. */
static int *push_fdbox(lua_State *L)
{
  int *fd = push_box(L, sizeof(*fd), FD_BOX);
  *fd = -1;
  return fd;
}

/* walkbox:__close() and walkbox:__gc(): frees walk.c's result; idempotent. */
static int walkbox_close(lua_State *L)
{
  walk_result_free(luaL_checkudata(L, 1, WALK_BOX));
  return 0;
}

/* namesbox:__close() and namesbox:__gc(): frees a directory's names; idempotent. */
static int namesbox_close(lua_State *L)
{
  walk_strings_free(luaL_checkudata(L, 1, NAMES_BOX));
  return 0;
}

/* Pushes the strings of s as a new array. */
static void push_strings(lua_State *L, const struct walk_strings *s)
{
  lua_createtable(L, s->n > INT_MAX ? INT_MAX : (int)s->n, 0);
  for (size_t i = 0; i < s->n; i++) {
    lua_pushstring(L, walk_string(s, i));
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

/* ==== read ================================================================================ */

static int toobig(lua_State *L, const char *path, lua_Integer max)
{
  luaL_pushfail(L);
  lua_pushfstring(L, "read '%s': larger than max_bytes (%I bytes)", path, max);
  lua_pushliteral(L, "toobig");
  return 3;
}

/* fs.read(path [, max_bytes]) -> string | nil, msg, errno|"toobig" */
static int fs_read(lua_State *L)
{
  const char *path = path_arg(L, 1);
  lua_Integer max = luaL_optinteger(L, 2, AGENT_FS_READ_MAX);
  luaL_argcheck(L, max >= 0, 2, "max_bytes must not be negative");
  if (!path)
    return nul_fail(L, "read", 1);
  int *fd = push_fdbox(L);
  *fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  struct stat st;
  if (*fd < 0 || fstat(*fd, &st) != 0)
    return agent_pusherrno(L, "read", path, errno);
  if (S_ISDIR(st.st_mode))
    return agent_pusherrno(L, "read", path, EISDIR);
  if (S_ISREG(st.st_mode) && st.st_size > max)
    return toobig(L, path, max); /* refused before reading a byte */
  /* The size is a hint only: a regular file may grow meanwhile, a pipe has none. */
  size_t chunk = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : LUAL_BUFFERSIZE;
  size_t total = 0;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (;;) {
    char *p = luaL_prepbuffsize(&b, chunk);
    ssize_t r = read(*fd, p, chunk);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return agent_pusherrno(L, "read", path, errno);
    if (r == 0)
      break;
    total += (size_t)r;
    if (total > (size_t)max)
      return toobig(L, path, max);
    luaL_addsize(&b, (size_t)r);
    chunk = LUAL_BUFFERSIZE;
  }
  luaL_pushresult(&b);
  return 1;
}

/* ==== write =============================================================================== */

static int write_all(int fd, const char *data, size_t len)
{
  while (len > 0) {
    ssize_t w = write(fd, data, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return errno;
    data += w;
    len -= (size_t)w;
  }
  return 0;
}

/* Flushes a directory's entries (the rename) to disk. File systems that cannot sync a
 * directory say EINVAL; there is nothing more to do there. */
static int sync_dir(const char *dir)
{
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  int err = fsync(fd) == 0 || errno == EINVAL ? 0 : errno;
  close(fd);
  return err;
}

/* Writes "<dir>.<base>.<random>.tmp" into tmp (PATH_MAX bytes; dir has its '/'): the dot
 * hides it from walks, and the base is cut to keep the name within NAME_MAX. 0 or
 * ENAMETOOLONG. */
static int temp_name(char *tmp, const char *dir, size_t dir_len, const char *base)
{
  uint64_t r = 0;
  if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
    struct timespec ts; /* no entropy yet (early boot): the clock is unique enough */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 12);
  }
  int n = snprintf(tmp, PATH_MAX, "%.*s.%.200s.%016llx.tmp", (int)dir_len, dir, base,
                   (unsigned long long)r);
  return n < 0 || n >= PATH_MAX ? ENAMETOOLONG : 0;
}

/* Creates a new, empty temp file beside path (whose directory is its first dir_len bytes,
 * with the '/'). A name clash, unlikely with 64 random bits, gets a new name. Returns the fd
 * with the name in tmp (PATH_MAX bytes), or -1 with *err set. */
static int open_temp(char *tmp, const char *path, size_t dir_len, int mode, int *err)
{
  for (int tries = 0; tries < 8; tries++) {
    if ((*err = temp_name(tmp, path, dir_len, path + dir_len)) != 0)
      return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, mode);
    *err = fd < 0 ? errno : 0;
    if (*err != EEXIST)
      return fd;
  }
  return -1;
}

/* Replaces path with data atomically: a temp file in the same directory (so rename cannot
 * cross file systems), written, synced, renamed over path, then the directory synced so the
 * rename survives a crash. sync == 0 skips both fsyncs: still atomic (a reader sees the old
 * file or the new one, never half of one), but a crash may lose the new content; each fsync
 * costs milliseconds on a busy disk. On failure before the rename the temp file is removed and
 * path is untouched. mode < 0: keep an existing file's mode, else 0666 less the umask. A
 * symlink at path is written through (its target is replaced). Returns 0 or an errno. */
static int write_atomic(const char *path, const char *data, size_t len, int mode, int sync)
{
  char target[PATH_MAX], tmp[PATH_MAX], dir[PATH_MAX];
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
    if (!realpath(path, target))
      return errno;
    path = target;
  }
  int exists = stat(path, &st) == 0;
  if (exists && S_ISDIR(st.st_mode))
    return EISDIR;
  if (mode < 0 && exists)
    mode = (int)(st.st_mode & 07777);
  const char *slash = strrchr(path, '/');
  size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
  int err;
  int fd = open_temp(tmp, path, dir_len, mode < 0 ? 0666 : mode, &err);
  if (fd < 0)
    return err;
  if (mode >= 0 && fchmod(fd, (mode_t)mode) != 0) /* exact: the umask must not narrow it */
    err = errno;
  if (!err)
    err = write_all(fd, data, len);
  if (!err && sync && fsync(fd) != 0)
    err = errno;
  if (close(fd) != 0 && !err)
    err = errno; /* NFS reports some write errors only here */
  if (!err && rename(tmp, path) != 0)
    err = errno;
  if (err) {
    unlink(tmp);
    return err;
  }
  if (!sync)
    return 0;
  /* the directory: "." for a bare name, "/" for a file at the root, else up to the slash */
  snprintf(dir, sizeof(dir), "%.*s", (int)(dir_len > 1 ? dir_len - 1 : dir_len), path);
  return sync_dir(dir_len ? dir : ".");
}

/* fs.write(path, data [, {mode=, sync=true}]) -> true | nil, msg, errno */
static int fs_write(lua_State *L)
{
  const char *path = path_arg(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  lua_Integer mode = -1;
  int sync = 1;
  static const char *const known[] = {"mode", "sync", NULL};
  if (opts_arg(L, 3, known)) {
    mode = agent_optfield_int(L, 3, "mode", -1);
    luaL_argcheck(L, mode >= -1 && mode <= 07777, 3, "mode must be within 0..0o7777");
    sync = agent_optfield_bool(L, 3, "sync", 1);
  }
  if (!path)
    return nul_fail(L, "write", 1);
  int err = write_atomic(path, data, len, (int)mode, sync);
  if (err)
    return agent_pusherrno(L, "write", path, err);
  lua_pushboolean(L, 1);
  return 1;
}

/* ==== exists, stat, list ================================================================== */

/* fs.exists(path) -> boolean (a dangling symlink does not exist) */
static int fs_exists(lua_State *L)
{
  const char *path = path_arg(L, 1);
  struct stat st;
  lua_pushboolean(L, path && stat(path, &st) == 0);
  return 1;
}

static const char *type_name(mode_t mode)
{
  if (S_ISREG(mode))
    return "file";
  if (S_ISDIR(mode))
    return "directory";
  if (S_ISLNK(mode))
    return "link";
  return "other";
}

/* fs.stat(path [, {follow=true}]) -> {type=, size=, mtime=, mode=} | nil, msg, errno */
static int fs_stat(lua_State *L)
{
  const char *path = path_arg(L, 1);
  static const char *const known[] = {"follow", NULL};
  int follow = opts_arg(L, 2, known) ? agent_optfield_bool(L, 2, "follow", 1) : 1;
  if (!path)
    return nul_fail(L, "stat", 1);
  struct stat st;
  if ((follow ? stat(path, &st) : lstat(path, &st)) != 0)
    return agent_pusherrno(L, "stat", path, errno);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, type_name(st.st_mode));
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, (lua_Integer)st.st_size);
  lua_setfield(L, -2, "size");
  lua_pushnumber(L, (lua_Number)st.st_mtim.tv_sec + (lua_Number)st.st_mtim.tv_nsec / 1e9);
  lua_setfield(L, -2, "mtime");
  lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
  lua_setfield(L, -2, "mode");
  return 1;
}

/* fs.list(dir) -> {name...} sorted bytewise, without "." and ".." | nil, msg, errno */
static int fs_list(lua_State *L)
{
  const char *dir = path_arg(L, 1);
  if (!dir)
    return nul_fail(L, "list", 1);
  struct walk_strings *names = push_box(L, sizeof(*names), NAMES_BOX);
  int err = walk_list_dir(dir, names);
  if (err)
    return agent_pusherrno(L, "list", dir, err);
  push_strings(L, names);
  return 1;
}

/* ==== walk ================================================================================ */

/* Reads opts.ignore (an array of strings) into a Lua-owned array of walk_patterns pointing
 * into the strings, which the options table keeps alive during the walk. */
static const struct walk_pattern *ignore_opt(lua_State *L, int opts, size_t *n)
{
  *n = 0;
  if (lua_getfield(L, opts, "ignore") == LUA_TNIL) {
    lua_pop(L, 1);
    return NULL;
  }
  if (!lua_istable(L, -1))
    luaL_error(L, "option 'ignore' must be an array of strings");
  int list = lua_gettop(L);
  size_t count = (size_t)lua_rawlen(L, list);
  struct walk_pattern *pats = lua_newuserdatauv(L, count * sizeof(*pats), 0);
  for (size_t i = 0; i < count; i++) {
    if (lua_rawgeti(L, list, (lua_Integer)i + 1) != LUA_TSTRING)
      luaL_error(L, "option 'ignore' must be an array of strings (item %d)", (int)i + 1);
    pats[i].text = lua_tolstring(L, -1, &pats[i].len);
    lua_pop(L, 1);
  }
  lua_replace(L, list); /* stack: ... pats; the strings stay alive in opts.ignore */
  *n = count;
  return pats;
}

/* fs.walk(root [, {gitignore=, ignore={...}, hidden=, follow=, dirs=, max_files=}])
 *   -> files, errors | nil, msg, errno */
static int fs_walk(lua_State *L)
{
  const char *root = path_arg(L, 1);
  static const char *const known[] = {"gitignore", "ignore",    "hidden", "follow",
                                      "dirs",      "max_files", NULL};
  struct walk_opts o = {0};
  if (opts_arg(L, 2, known)) {
    o.gitignore = agent_optfield_bool(L, 2, "gitignore", 0);
    o.hidden = agent_optfield_bool(L, 2, "hidden", 0);
    o.follow = agent_optfield_bool(L, 2, "follow", 0);
    o.dirs = agent_optfield_bool(L, 2, "dirs", 0);
    lua_Integer max = agent_optfield_int(L, 2, "max_files", AGENT_FS_WALK_MAX_FILES);
    luaL_argcheck(L, max >= 1, 2, "max_files must be at least 1");
    o.max_files = (size_t)max;
    o.ignore = ignore_opt(L, 2, &o.nignore);
  }
  if (!root)
    return nul_fail(L, "walk", 1);
  struct walk_result *r = push_box(L, sizeof(*r), WALK_BOX);
  int err = walk_tree(root, &o, r);
  if (err)
    return agent_pusherrno(L, "walk", root, err);
  push_strings(L, &r->files);
  push_strings(L, &r->errors);
  return 2;
}

/* ==== mkdir_p, realpath, remove, rename, cwd ============================================== */

/* Makes one directory; an existing directory is fine. 0 or an errno. */
static int make_dir(const char *path, mode_t mode)
{
  if (mkdir(path, mode) == 0)
    return 0;
  int err = errno;
  struct stat st;
  if (err == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return 0;
  return err;
}

/* fs.mkdir_p(path [, mode=0o777]) -> true | nil, msg, errno (mode less the umask, as mkdir) */
static int fs_mkdir_p(lua_State *L)
{
  const char *path = path_arg(L, 1);
  lua_Integer mode = luaL_optinteger(L, 2, 0777);
  luaL_argcheck(L, mode >= 0 && mode <= 07777, 2, "mode must be within 0..0o7777");
  if (!path)
    return nul_fail(L, "mkdir_p", 1);
  size_t len = strlen(path);
  if (len >= PATH_MAX)
    return agent_pusherrno(L, "mkdir_p", path, ENAMETOOLONG);
  int err = make_dir(path, (mode_t)mode); /* usually the parents are there */
  if (err == ENOENT) {
    char buf[PATH_MAX];
    memcpy(buf, path, len + 1);
    err = 0;
    for (size_t i = 1; i <= len && !err; i++) {
      if (i < len && (buf[i] != '/' || buf[i - 1] == '/'))
        continue;
      buf[i] = '\0';
      err = make_dir(buf, (mode_t)mode);
      buf[i] = path[i];
    }
  }
  if (err)
    return agent_pusherrno(L, "mkdir_p", path, err);
  lua_pushboolean(L, 1);
  return 1;
}

/* fs.realpath(path) -> absolute path without symlinks, "." or ".." | nil, msg, errno */
static int fs_realpath(lua_State *L)
{
  const char *path = path_arg(L, 1);
  if (!path)
    return nul_fail(L, "realpath", 1);
  char buf[PATH_MAX];
  if (!realpath(path, buf))
    return agent_pusherrno(L, "realpath", path, errno);
  lua_pushstring(L, buf);
  return 1;
}

/* fs.remove(path) -> true | nil, msg, errno (a file, a symlink or an empty directory) */
static int fs_remove(lua_State *L)
{
  const char *path = path_arg(L, 1);
  if (!path)
    return nul_fail(L, "remove", 1);
  if (remove(path) != 0)
    return agent_pusherrno(L, "remove", path, errno);
  lua_pushboolean(L, 1);
  return 1;
}

/* fs.rename(from, to) -> true | nil, "rename 'from' to 'to': reason", errno */
static int fs_rename(lua_State *L)
{
  const char *from = path_arg(L, 1), *to = path_arg(L, 2);
  if (!from || !to)
    return nul_fail(L, "rename", from ? 2 : 1);
  if (rename(from, to) != 0) {
    int err = errno;
    luaL_pushfail(L);
    lua_pushfstring(L, "rename '%s' to '%s': %s", from, to, strerror(err));
    lua_pushinteger(L, err);
    return 3;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* fs.cwd() -> the working directory | nil, msg, errno (it may have been removed) */
static int fs_cwd(lua_State *L)
{
  char buf[PATH_MAX];
  if (!getcwd(buf, sizeof(buf)))
    return agent_pusherrno(L, "cwd", ".", errno);
  lua_pushstring(L, buf);
  return 1;
}

/* ==== lock ================================================================================
 * An agent.Lock holds an fd with an exclusive flock on it. Closing the fd releases the lock, so
 * :unlock(), __close and __gc are one idempotent close. The lock file stays: removing it would
 * let a waiter lock a file that no longer has a name while a newcomer locks a new one. */

struct lock {
  int fd; /* -1 once closed */
};

static struct lock *check_lock(lua_State *L)
{
  return luaL_checkudata(L, 1, LOCK_T);
}

/* lock:__gc() and lock:__close(): release if still held; safe to call twice. */
static int lock_release(lua_State *L)
{
  struct lock *lk = check_lock(L);
  if (lk->fd >= 0)
    close(lk->fd);
  lk->fd = -1;
  return 0;
}

/* lock:unlock() -> true; raises on a lock already released */
static int lock_unlock(lua_State *L)
{
  struct lock *lk = check_lock(L);
  if (lk->fd < 0)
    return luaL_error(L, "attempt to use a released lock");
  lock_release(L);
  lua_pushboolean(L, 1);
  return 1;
}

/* lock:__tostring() -> "agent.Lock ('path')" or "agent.Lock (released)" */
static int lock_tostring(lua_State *L)
{
  struct lock *lk = check_lock(L);
  if (lk->fd < 0) {
    lua_pushliteral(L, "agent.Lock (released)");
  } else {
    lua_getiuservalue(L, 1, 1);
    lua_pushfstring(L, "agent.Lock ('%s')", lua_tostring(L, -1));
  }
  return 1;
}

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Takes the flock on fd. wait == 0: try once; an infinite timeout_ms: wait as long as it
 * takes (a blocking flock, which SIGINT/SIGTERM interrupt); else poll with a growing pause, as
 * flock has no timeout. Returns 0, EWOULDBLOCK when still held by another, EINTR when a signal
 * came, or another errno. */
static int acquire(int fd, int wait, lua_Number timeout_ms)
{
  if (wait && timeout_ms == HUGE_VAL) {
    while (flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR || agent_signal_pending())
        return errno;
    }
    return 0;
  }
  double deadline = now_ms() + (wait ? timeout_ms : 0);
  long pause_us = 1000;
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
      return 0;
    if (errno != EWOULDBLOCK && errno != EINTR)
      return errno;
    if (agent_signal_pending())
      return EINTR;
    double left = deadline - now_ms();
    if (left <= 0)
      return EWOULDBLOCK;
    long us = left * 1000 < (double)pause_us ? (long)(left * 1000) + 1 : pause_us;
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
    pause_us = pause_us < 32000 ? pause_us * 2 : 50000;
  }
}

/* fs.lock(path [, {wait=, timeout_ms=}]) -> agent.Lock | nil, msg, errno|"busy"|"interrupted" */
static int fs_lock(lua_State *L)
{
  const char *path = path_arg(L, 1);
  int wait = 1;
  lua_Number timeout = HUGE_VAL; /* wait as long as it takes */
  static const char *const known[] = {"wait", "timeout_ms", NULL};
  if (opts_arg(L, 2, known)) {
    wait = agent_optfield_bool(L, 2, "wait", 1);
    timeout = agent_optfield_num(L, 2, "timeout_ms", HUGE_VAL);
    luaL_argcheck(L, timeout >= 0, 2, "timeout_ms must not be negative");
  }
  if (!path)
    return nul_fail(L, "lock", 1);
  /* Created released, then acquired: if anything raises, __gc still closes the fd. */
  struct lock *lk = lua_newuserdatauv(L, sizeof(*lk), 1);
  lk->fd = -1;
  luaL_setmetatable(L, LOCK_T);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1); /* the path, for __tostring */
  lk->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0666);
  if (lk->fd < 0)
    return agent_pusherrno(L, "lock", path, errno);
  int err = acquire(lk->fd, wait, timeout);
  if (err == 0)
    return 1;
  close(lk->fd);
  lk->fd = -1;
  if (err == EWOULDBLOCK && !wait)
    return agent_pushfail(L, "lock", path, "held by another process", "busy");
  if (err == EWOULDBLOCK) {
    luaL_pushfail(L);
    lua_pushfstring(L, "lock '%s': still held after %d ms", path, (int)timeout);
    lua_pushliteral(L, "busy");
    return 3;
  }
  if (err == EINTR)
    return agent_pushfail(L, "lock", path, "interrupted", "interrupted");
  return agent_pusherrno(L, "lock", path, err);
}

/* ==== The module ========================================================================== */

static const luaL_Reg fs_funcs[] = {
  {"read", fs_read},
  {"write", fs_write},
  {"exists", fs_exists},
  {"stat", fs_stat},
  {"list", fs_list},
  {"walk", fs_walk},
  {"mkdir_p", fs_mkdir_p},
  {"realpath", fs_realpath},
  {"remove", fs_remove},
  {"rename", fs_rename},
  {"lock", fs_lock},
  {"cwd", fs_cwd},
  {NULL, NULL},
};

static const luaL_Reg lock_methods[] = {
  {"unlock", lock_unlock},
  {NULL, NULL},
};

static const luaL_Reg lock_meta[] = {
  {"__gc", lock_release},
  {"__close", lock_release},
  {"__tostring", lock_tostring},
  {NULL, NULL},
};

/* Registers a metatable whose __gc and __close are both `close`. */
static void new_box_type(lua_State *L, const char *tname, lua_CFunction close)
{
  luaL_newmetatable(L, tname);
  lua_pushcfunction(L, close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, close);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
}

int luaopen_agent_fs(lua_State *L)
{
  new_box_type(L, FD_BOX, fdbox_close);
  new_box_type(L, WALK_BOX, walkbox_close);
  new_box_type(L, NAMES_BOX, namesbox_close);
  agent_newclass(L, LOCK_T, lock_methods, lock_meta);
  luaL_newlib(L, fs_funcs);
  return 1;
}
