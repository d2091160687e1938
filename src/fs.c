/* agent.fs: the file system as the pipeline needs it: whole-file reads with a cap, atomic
 * writes, stat, sorted listings, the tree walk (walk.c, with .gitignore from ignore.c), mkdir -p,
 * realpath, remove, rename, advisory locks and the working directory. Failures return
 * nil, "<op> '<path>': <reason>", errno (or a tag); wrong argument types raise. */
#define _GNU_SOURCE /* O_PATH: a handle on a directory that needs no read permission */
#include "agent_limits.h"
#include "host.h"
#include "luax.h"
#include "util.h"
#include "walk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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

#define FD_BOX "agent.Fd"           /* an fd owned by Lua while a read is under way */
#define WALK_BOX "agent.WalkResult" /* walk.c's result, owned by Lua while it is pushed */
#define NAMES_BOX "agent.DirNames"  /* agent_walk_list_dir's names, likewise */
#define LOCK_T "agent.Lock"
#define WALK_JOB "agent.WalkJob" /* a walk under way on its own thread (fs.walk_start) */
#define WALK_JOIN_POLL_MS 20     /* how often job:wait() looks for SIGINT/SIGTERM */

/* Bytes of the target's name kept in a temp file's name, so the whole name stays within
 * NAME_MAX with the dot, the 16 hex digits and ".tmp" around it. */
#define TEMP_BASE_MAX 200

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
      return luaL_argerror(
          L, arg, lua_pushfstring(L, "unknown option '%s'", key ? key : luaL_typename(L, -1)));
  }
  return 1;
}

/* ==== Lua-owned C resources ===============================================================
 * A C resource that must survive Lua calls (which may raise: out of memory, a script's memory
 * cap) lives in a to-be-closed box (agent_pushbox), so it is released on return and on error. */

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
  int *fd = agent_pushbox(L, sizeof(*fd), 0, FD_BOX);
  *fd = -1;
  return fd;
}

/* walkbox:__close() and walkbox:__gc(): frees walk.c's result; idempotent. */
static int walkbox_close(lua_State *L)
{
  agent_walk_result_free(luaL_checkudata(L, 1, WALK_BOX));
  return 0;
}

/* namesbox:__close() and namesbox:__gc(): frees a directory's names; idempotent. */
static int namesbox_close(lua_State *L)
{
  agent_walk_strings_free(luaL_checkudata(L, 1, NAMES_BOX));
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

/* What a file that is not a regular one is, for messages: "a FIFO", "a directory"... */
static const char *file_kind(mode_t mode)
{
  if (S_ISDIR(mode))
    return "a directory";
  if (S_ISFIFO(mode))
    return "a FIFO";
  if (S_ISSOCK(mode))
    return "a socket";
  if (S_ISCHR(mode))
    return "a character device";
  if (S_ISBLK(mode))
    return "a block device";
  return "not a regular file";
}

static int toobig(lua_State *L, const char *path, lua_Integer max)
{
  luaL_pushfail(L);
  lua_pushfstring(L, "read '%s': larger than max_bytes (%I bytes)", path, max);
  lua_pushliteral(L, "toobig");
  return 3;
}

/* Reads fd to its end into a Lua string; `chunk` is the first read's size (a regular file's
 * size + 1, so one read and one EOF usually do). Leaves the string, or the failure, pushed. */
static int read_all(lua_State *L, int fd, const char *path, size_t chunk, lua_Integer max)
{
  size_t total = 0;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (;;) {
    char *p = luaL_prepbuffsize(&b, chunk);
    ssize_t r = read(fd, p, chunk);
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

/* fs.read(path [, max_bytes | {max_bytes=, special=false}]) -> string | nil, msg, errno|"toobig"
 * A FIFO, socket or device is refused (EINVAL) unless special = true: opening or reading one
 * can block forever (a FIFO planted as a config file would hang the command). */
static int fs_read(lua_State *L)
{
  const char *path = path_arg(L, 1);
  lua_Integer max = AGENT_FS_READ_MAX;
  int special = 0;
  static const char *const known[] = {"max_bytes", "special", NULL};
  if (lua_type(L, 2) == LUA_TTABLE) {
    opts_arg(L, 2, known);
    max = agent_optfield_int(L, 2, "max_bytes", AGENT_FS_READ_MAX);
    special = agent_optfield_bool(L, 2, "special", 0);
  } else {
    max = luaL_optinteger(L, 2, AGENT_FS_READ_MAX);
  }
  luaL_argcheck(L, max >= 0, 2, "max_bytes must not be negative");
  if (!path)
    return nul_fail(L, "read", 1);
  int *fd = push_fdbox(L);
  /* O_NONBLOCK: opening a FIFO without a writer would wait for one before fstat could say
   * what it is; it changes nothing for regular files. */
  *fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | (special ? 0 : O_NONBLOCK));
  struct stat st;
  if (*fd < 0 || fstat(*fd, &st) != 0)
    return agent_pusherrno(L, "read", path, errno);
  if (S_ISDIR(st.st_mode))
    return agent_pusherrno(L, "read", path, EISDIR);
  if (!S_ISREG(st.st_mode) && !special) {
    luaL_pushfail(L);
    lua_pushfstring(L, "read '%s': %s, not a regular file (read it with {special = true})", path,
                    file_kind(st.st_mode));
    lua_pushinteger(L, EINVAL);
    return 3;
  }
  if (S_ISREG(st.st_mode) && st.st_size > max)
    return toobig(L, path, max); /* refused before reading a byte */
  /* The size is a hint only: a regular file may grow meanwhile, a pipe has none. */
  return read_all(L, *fd, path, S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : LUAL_BUFFERSIZE,
                  max);
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

/* Writes ".<base>.<random>.tmp" into tmp (size bytes): the dot hides it from walks, and the
 * base is cut to keep the name within NAME_MAX. 0 or ENAMETOOLONG. */
static int temp_name(char *tmp, size_t size, const char *base)
{
  uint64_t r = 0;
  if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
    struct timespec ts; /* no entropy yet (early boot): the clock is unique enough */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 12);
  }
  int n = snprintf(tmp, size, ".%.*s.%016llx.tmp", TEMP_BASE_MAX, base, (unsigned long long)r);
  return n < 0 || (size_t)n >= size ? ENAMETOOLONG : 0;
}

/* Creates a new, empty temp file for base in directory dfd. A name clash, unlikely with 64
 * random bits, gets a new name. O_NOFOLLOW: nothing planted under the name is followed.
 * Returns the fd with the name in tmp (size bytes), or -1 with *err set. */
static int open_temp(int dfd, char *tmp, size_t size, const char *base, int mode, int *err)
{
  for (int tries = 0; tries < 8; tries++) {
    *err = temp_name(tmp, size, base);
    if (*err)
      return -1;
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW,
                    (mode_t)mode);
    *err = fd < 0 ? errno : 0;
    if (*err != EEXIST)
      return fd;
  }
  return -1;
}

/* Fills the new temp file fd and closes it. 0 or an errno. */
static int fill_temp(int fd, const char *data, size_t len, int mode, int sync)
{
  int err = 0;
  if (mode >= 0 && fchmod(fd, (mode_t)mode) != 0) /* exact: the umask must not narrow it */
    err = errno;
  if (!err)
    err = write_all(fd, data, len);
  if (!err && sync && fsync(fd) != 0)
    err = errno;
  if (close(fd) != 0 && !err)
    err = errno; /* NFS reports some write errors only here */
  return err;
}

/* Flushes the directory's entries (the rename) to disk. Best effort: the rename has happened
 * whatever this says, and a directory one may write but not read (mode 0333) cannot be opened
 * for fsync at all. */
static void sync_dir(int dfd)
{
  int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

/* Replaces base in directory dfd with data (see write_atomic). 0 or an errno. */
static int replace_in(int dfd, const char *base, const char *data, size_t len, int mode, int sync)
{
  struct stat st;
  /* not following: should base have become a symlink since the caller resolved it, the
   * rename replaces the link and writes nowhere else */
  int exists = fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (exists && S_ISDIR(st.st_mode))
    return EISDIR;
  if (mode < 0 && exists && S_ISREG(st.st_mode)) /* kept, except setuid and setgid */
    mode = (int)(st.st_mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID));
  char tmp[NAME_MAX + 1];
  int err;
  int fd = open_temp(dfd, tmp, sizeof(tmp), base, mode < 0 ? 0666 : mode, &err);
  if (fd < 0)
    return err;
  err = fill_temp(fd, data, len, mode, sync);
  if (!err && renameat(dfd, tmp, dfd, base) != 0)
    err = errno;
  if (err) {
    unlinkat(dfd, tmp, 0);
    return err;
  }
  if (sync)
    sync_dir(dfd);
  return 0; /* once the rename is done, the write is */
}

/* Replaces path with data atomically: a temp file in the same directory (so rename cannot
 * cross file systems), written, synced, renamed over path, then the directory synced so the
 * rename survives a crash. sync == 0 skips both fsyncs: still atomic (a reader sees the old
 * file or the new one, never half of one), but a crash may lose the new content; each fsync
 * costs milliseconds on a busy disk. On failure the temp file is removed and path is
 * untouched. mode < 0: keep an existing file's mode (without setuid/setgid), else 0666 less
 * the umask. A symlink at path is written through (its target is replaced). The directory is
 * opened once (O_PATH: no read permission needed) and the temp file, the rename and the
 * directory sync all go through that fd, so they happen in one directory even if a path
 * component is swapped meanwhile (docs/security.md). Returns 0 or an errno. */
static int write_atomic(const char *path, const char *data, size_t len, int mode, int sync)
{
  char target[PATH_MAX], dir[PATH_MAX];
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
    if (!realpath(path, target))
      return errno;
    path = target;
  }
  const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
  if (!*base)
    return EISDIR; /* "dir/" */
  /* the directory: "." for a bare name, "/" for a file at the root, else up to the slash */
  size_t dir_len = !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
  if (dir_len >= sizeof(dir))
    return ENAMETOOLONG;
  memcpy(dir, dir_len ? path : ".", dir_len ? dir_len : 1);
  dir[dir_len ? dir_len : 1] = '\0';
  int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return errno;
  int err = replace_in(dfd, base, data, len, mode, sync);
  close(dfd);
  return err;
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
  struct walk_strings *names = agent_pushbox(L, sizeof(*names), 0, NAMES_BOX);
  int err = agent_walk_list_dir(dir, names);
  if (err)
    return agent_pusherrno(L, "list", dir, err);
  push_strings(L, names);
  return 1;
}

/* ==== walk ================================================================================ */

/* Reads opts.ignore (an array of strings, read raw) into an array of walk_patterns pointing
 * into the strings. The array is a userdata left on the stack, whose user value is a table of
 * its own holding every string: however the caller's tables change (a __gc metamethod may run
 * Lua during any allocation), the strings stay alive while the walk reads them. */
static const struct walk_pattern *ignore_opt(lua_State *L, int opts, size_t *n)
{
  *n = 0;
  int type = agent_rawfield(L, opts, "ignore"); /* stack: list */
  if (type == LUA_TNIL) {
    lua_pop(L, 1);
    return NULL;
  }
  if (type != LUA_TTABLE)
    agent_opterror(L, opts, "ignore", "must be an array of strings");
  int list = lua_gettop(L);
  size_t count = (size_t)lua_rawlen(L, list);
  struct walk_pattern *pats = lua_newuserdatauv(L, count * sizeof(*pats), 1);
  lua_createtable(L, count > INT_MAX ? INT_MAX : (int)count, 0); /* stack: list pats anchor */
  for (size_t i = 0; i < count; i++) {
    if (lua_rawgeti(L, list, (lua_Integer)i + 1) != LUA_TSTRING)
      luaL_argerror(L, opts,
                    lua_pushfstring(L,
                                    "option 'ignore' must be an array of strings (item %I is a %s)",
                                    (lua_Integer)i + 1, luaL_typename(L, -1)));
    pats[i].text = lua_tolstring(L, -1, &pats[i].len);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setiuservalue(L, -2, 1); /* stack: list pats */
  lua_remove(L, list);
  *n = count;
  return pats;
}

/* Reads fs.walk's options table at arg into *o, and opts.listing into *listing. Leaves one
 * value on the stack: the array opts.ignore points into (ignore_opt), or nil. */
static void walk_opts_arg(lua_State *L, int arg, struct walk_opts *o, int *listing)
{
  static const char *const known[] = {"gitignore", "ignore",           "hidden",  "follow", "dirs",
                                      "max_files", "max_ignore_bytes", "listing", NULL};
  memset(o, 0, sizeof(*o));
  *listing = 0;
  if (!opts_arg(L, arg, known)) {
    lua_pushnil(L);
    return;
  }
  *listing = agent_optfield_bool(L, arg, "listing", 0);
  o->gitignore = agent_optfield_bool(L, arg, "gitignore", 0);
  o->hidden = agent_optfield_bool(L, arg, "hidden", 0);
  o->follow = agent_optfield_bool(L, arg, "follow", 0);
  o->dirs = agent_optfield_bool(L, arg, "dirs", 0);
  lua_Integer max = agent_optfield_int(L, arg, "max_files", AGENT_FS_WALK_MAX_FILES);
  luaL_argcheck(L, max >= 1, arg, "max_files must be at least 1");
  o->max_files = (size_t)max;
  max = agent_optfield_int(L, arg, "max_ignore_bytes", AGENT_FS_IGNORE_FILE_MAX);
  luaL_argcheck(L, max >= 1, arg, "max_ignore_bytes must be at least 1");
  o->max_ignore_bytes = (size_t)max;
  o->ignore = ignore_opt(L, arg, &o->nignore);
  if (!o->ignore)
    lua_pushnil(L);
}

/* Pushes the strings of s joined by "\n", as table.concat(array, "\n") would give them: the
 * packed strings are copied once, with no Lua string made for each. */
static void push_joined(lua_State *L, const struct walk_strings *s)
{
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, s->len);
  size_t at = 0;
  for (size_t i = 0; i < s->n; i++) {
    size_t len = strlen(walk_string(s, i));
    if (i > 0)
      out[at++] = '\n';
    memcpy(out + at, walk_string(s, i), len);
    at += len;
  }
  luaL_pushresultsize(&b, at);
}

/* Returns what fs.walk returns for a finished walk: its files, errors and, with `listing`,
 * the files joined by "\n"; or the failure. */
static int push_walk(lua_State *L, const char *root, int err, const struct walk_result *r,
                     int listing)
{
  if (err)
    return agent_pusherrno(L, "walk", root, err);
  push_strings(L, &r->files);
  push_strings(L, &r->errors);
  if (listing)
    push_joined(L, &r->files);
  return listing ? 3 : 2;
}

/* fs.walk(root [, {gitignore=, ignore={...}, hidden=, follow=, dirs=, max_files=,
 *   max_ignore_bytes=, listing=}]) -> files, errors [, listing] | nil, msg, errno */
static int fs_walk(lua_State *L)
{
  const char *root = path_arg(L, 1);
  struct walk_opts o;
  int listing;
  walk_opts_arg(L, 2, &o, &listing);
  if (!root)
    return nul_fail(L, "walk", 1);
  struct walk_result *r = agent_pushbox(L, sizeof(*r), 0, WALK_BOX);
  return push_walk(L, root, agent_walk_tree(root, &o, r), r, listing);
}

/* ==== walk_start: a walk on a thread of its own ============================================
 * The caller does other work (reads files, parses them) while the tree is read, then waits.
 * The thread reads only root and opts, held by the job (root and the ignore patterns as its
 * user values, so they outlive the thread: a userdata's user values stay alive until its
 * finalizer has run), and writes only result and err, which Lua reads after joining. */

struct walk_job {
  pthread_t thread;
  int running;     /* the thread was started and not joined yet */
  int waited;      /* job:wait() has handed the result over */
  int listing;     /* opts.listing: wait() also returns the joined listing */
  atomic_int stop; /* set by __gc/__close: the walk ends at its next directory */
  const char *root;
  struct walk_opts opts;
  struct walk_result result;
  int err;
};

static void *walk_job_main(void *arg)
{
  struct walk_job *job = arg;
  job->err = agent_walk_tree(job->root, &job->opts, &job->result);
  return NULL;
}

/* Starts the job's thread with every signal blocked in it, so that SIGINT and SIGTERM still
 * reach the calling thread. When no thread can start, job:wait() walks on the caller's. */
static void walk_job_start(struct walk_job *job)
{
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  job->running = pthread_create(&job->thread, NULL, walk_job_main, job) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Joins the job's thread. A SIGINT or SIGTERM that arrives meanwhile cancels the walk, which
 * then stops at its next directory, so an interrupt is not held up by a large tree (the
 * caller sees the walk fail with ECANCELED and the host's flag says why). */
static void join_job(struct walk_job *job)
{
  for (;;) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += WALK_JOIN_POLL_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    if (pthread_timedjoin_np(job->thread, NULL, &until) == 0)
      break;
    if (agent_signal_pending())
      atomic_store(&job->stop, 1);
  }
  job->running = 0;
}

static struct walk_job *check_job(lua_State *L)
{
  return luaL_checkudata(L, 1, WALK_JOB);
}

/* fs.walk_start(root [, opts]) -> job: fs.walk's walk, under way on another thread while the
 * caller goes on; job:wait() returns what fs.walk would have. Options as fs.walk's. */
static int fs_walk_start(lua_State *L)
{
  const char *root = path_arg(L, 1);
  struct walk_opts o;
  int listing;
  walk_opts_arg(L, 2, &o, &listing); /* stack: root opts? patterns|nil */
  if (!root)
    return nul_fail(L, "walk", 1);
  struct walk_job *job = lua_newuserdatauv(L, sizeof(*job), 2);
  memset(job, 0, sizeof(*job));
  luaL_setmetatable(L, WALK_JOB);
  lua_pushvalue(L, -2);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 2);
  job->root = root;
  job->opts = o;
  job->listing = listing;
  job->opts.cancel = &job->stop;
  walk_job_start(job);
  return 1;
}

/* job:wait() -> files, errors [, listing] | nil, msg, errno: waits for the walk to end (or
 * walks now, if its thread could not start). Once only: the job hands its result over. */
static int job_wait(lua_State *L)
{
  struct walk_job *job = check_job(L);
  if (job->waited)
    return luaL_error(L, "walk job: already waited for, or closed");
  if (job->running)
    join_job(job);
  else
    job->err = agent_walk_tree(job->root, &job->opts, &job->result);
  job->waited = 1;
  int n = push_walk(L, job->root, job->err, &job->result, job->listing);
  agent_walk_result_free(&job->result);
  return n;
}

/* job:__close() and job:__gc(): stops the walk if it is still under way, waits for its
 * thread and frees what it listed; idempotent. */
static int job_close(lua_State *L)
{
  struct walk_job *job = check_job(L);
  if (job->running) {
    atomic_store(&job->stop, 1);
    pthread_join(job->thread, NULL);
    job->running = 0;
  }
  job->waited = 1;
  agent_walk_result_free(&job->result);
  return 0;
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

/* lock:unlock() -> true; raises "attempt to use a closed lock" when already released */
static int lock_unlock(lua_State *L)
{
  struct lock *lk = check_lock(L);
  if (lk->fd < 0)
    return agent_closed_error(L, "lock");
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
  double deadline = agent_monotonic_ms() + (wait ? timeout_ms : 0);
  long pause_us = 1000;
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
      return 0;
    if (errno != EWOULDBLOCK && errno != EINTR)
      return errno;
    if (agent_signal_pending())
      return EINTR;
    double left = deadline - agent_monotonic_ms();
    if (left <= 0)
      return EWOULDBLOCK;
    long us = left * 1000 < (double)pause_us ? (long)(left * 1000) + 1 : pause_us;
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
    pause_us = pause_us < 32000 ? pause_us * 2 : 50000;
  }
}

/* Opens (creating) the lock file without following a symlink planted at its name, which
 * would make agent create or lock a file elsewhere, and refuses anything but a regular file
 * (O_NONBLOCK: opening a FIFO or a device must not wait). Returns the fd, or -1 with the
 * failure pushed. */
static int open_lock_file(lua_State *L, const char *path)
{
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK, 0666);
  struct stat st;
  if (fd < 0 && errno == ELOOP) {
    luaL_pushfail(L);
    lua_pushfstring(L, "lock '%s': a symlink, not followed", path);
    lua_pushinteger(L, ELOOP);
    return -1;
  }
  if (fd < 0 || fstat(fd, &st) != 0) {
    int err = errno;
    if (fd >= 0)
      close(fd);
    agent_pusherrno(L, "lock", path, err);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    luaL_pushfail(L);
    lua_pushfstring(L, "lock '%s': %s, not a regular file", path, file_kind(st.st_mode));
    lua_pushinteger(L, EINVAL);
    return -1;
  }
  return fd;
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
  lk->fd = open_lock_file(L, path);
  if (lk->fd < 0)
    return 3;
  int err = acquire(lk->fd, wait, timeout);
  if (err == 0)
    return 1;
  close(lk->fd);
  lk->fd = -1;
  if (err == EWOULDBLOCK && !wait)
    return agent_pushfail(L, "lock", path, "held by another process", "busy");
  if (err == EWOULDBLOCK) {
    char waited[32]; /* a finite timeout that passed: whole milliseconds */
    snprintf(waited, sizeof(waited), "%.0f", timeout);
    luaL_pushfail(L);
    lua_pushfstring(L, "lock '%s': still held after %s ms", path, waited);
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
    {"walk_start", fs_walk_start},
    {"mkdir_p", fs_mkdir_p},
    {"realpath", fs_realpath},
    {"remove", fs_remove},
    {"rename", fs_rename},
    {"lock", fs_lock},
    {"cwd", fs_cwd},
    {NULL, NULL},
};

static const luaL_Reg job_methods[] = {
    {"wait", job_wait},
    {NULL, NULL},
};

static const luaL_Reg job_meta[] = {
    {"__gc", job_close},
    {"__close", job_close},
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

/* The boxes: __close releases at the end of the call, __gc if a box ever outlives it. */
static const luaL_Reg fd_box[] = {{"__gc", fdbox_close}, {"__close", fdbox_close}, {NULL, NULL}};
static const luaL_Reg walk_box[] = {
    {"__gc", walkbox_close}, {"__close", walkbox_close}, {NULL, NULL}};
static const luaL_Reg names_box[] = {
    {"__gc", namesbox_close}, {"__close", namesbox_close}, {NULL, NULL}};

/* luaopen_agent_fs(L) -> the agent.fs table; registers the Lock, WalkJob and box classes. */
int luaopen_agent_fs(lua_State *L)
{
  agent_newclass(L, FD_BOX, NULL, fd_box);
  agent_newclass(L, WALK_BOX, NULL, walk_box);
  agent_newclass(L, NAMES_BOX, NULL, names_box);
  agent_newclass(L, LOCK_T, lock_methods, lock_meta);
  agent_newclass(L, WALK_JOB, job_methods, job_meta);
  luaL_newlib(L, fs_funcs);
  return 1;
}
