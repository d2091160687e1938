/* Tests for the agent.fs binding driven from C, for what a Lua spec cannot set up: a write
 * failing half way (RLIMIT_FSIZE) must leave the old file and no temp file; a lock contended
 * across fork; unreadable files with privileges really dropped; out-of-memory raised at every
 * step of read, walk, list, write and lock, which must leak neither fds nor memory; and the
 * fsyncs a write makes, counted by an fsync defined here (see below). */
#include "host.h"
#include "test.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

static char dir[256];

/* The executable's own fsync wins over libc's when fs.c (linked in statically) is resolved,
 * so every fsync the code under test makes is counted here before it is done. */
static int fsyncs;

int fsync(int fd)
{
  fsyncs++;
  return (int)syscall(SYS_fsync, fd);
}

/* ---- A Lua state whose allocator can be told to fail ------------------------------------- */

struct budget {
  size_t used, limit;
};

static void *budget_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
  struct budget *b = ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    b->used -= old;
    return NULL;
  }
  if (nsize > old && b->used + (nsize - old) > b->limit)
    return NULL;
  void *p = realloc(ptr, nsize);
  if (p)
    b->used = b->used - old + nsize;
  return p;
}

/* A state with the standard libraries and agent.fs as the global `fs`. */
static lua_State *new_state(struct budget *b)
{
  b->used = 0;
  b->limit = SIZE_MAX;
  lua_State *L = lua_newstate(budget_alloc, b);
  luaL_openlibs(L);
  luaL_requiref(L, "fs", luaopen_agent_fs, 1);
  lua_pop(L, 1);
  lua_pushstring(L, dir);
  lua_setglobal(L, "dir");
  /* Lua's own first big luaL_Buffer creates a metatable; if that creation runs out of memory
   * half way, every later buffer fails ("non-closable value"). Make it now, with room. */
  luaL_dostring(L, "return ('x'):rep(10000)");
  lua_settop(L, 0);
  return L;
}

/* Runs a chunk that must return a string; returns a copy (caller frees), or the error. */
static char *eval(lua_State *L, const char *code)
{
  const char *s;
  if (luaL_dostring(L, code) != LUA_OK)
    s = lua_tostring(L, -1);
  else
    s = lua_tostring(L, -1);
  char *out = strdup(s ? s : "(not a string)");
  lua_settop(L, 0);
  return out;
}

static void expect_eval(lua_State *L, const char *code, const char *want, int line)
{
  char *got = eval(L, code);
  if (strcmp(got, want) != 0)
    fprintf(stderr, "line %d: %s\n", line, code);
  CHECK_STR(got, want);
  free(got);
}
#define EXPECT_EVAL(L, code, want) expect_eval(L, code, want, __LINE__)

static int open_fds(void)
{
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  if (!d)
    return -1;
  while (readdir(d))
    n++;
  closedir(d);
  return n;
}

static void write_file(const char *rel, const char *text)
{
  char path[PATH_MAX];
  int n = snprintf(path, sizeof(path), "%s/%s", dir, rel);
  CHECK(n > 0 && (size_t)n < sizeof(path));
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

/* ---- Tests ------------------------------------------------------------------------------- */

/* A child limited to files of 4 kB writes 100 kB: EFBIG, the old content stays, no temp. */
static void test_write_fails_half_way(void)
{
  write_file("keep.txt", "precious");
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN); /* else the signal kills the child before write returns */
    struct rlimit rl = {4096, 4096};
    setrlimit(RLIMIT_FSIZE, &rl);
    struct budget b;
    lua_State *L = new_state(&b);
    EXPECT_EVAL(L,
                "local ok, msg, code = fs.write(dir .. '/keep.txt', ('x'):rep(100000))\n"
                "return tostring(ok) .. '|' .. msg:sub(#dir + 8) .. '|' .. code",
                "nil|/keep.txt': File too large|27");
    lua_close(L);
    _exit(test_failures ? 1 : 0);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  struct budget b;
  lua_State *L = new_state(&b);
  EXPECT_EVAL(L, "return fs.read(dir .. '/keep.txt')", "precious");
  EXPECT_EVAL(L, "return table.concat(fs.list(dir), ',')", "keep.txt");
  lua_close(L);
}

/* A durable write syncs the file and its directory; {sync = false} syncs neither, yet still
 * replaces the file whole, keeps its mode and leaves no temp file. */
static void test_write_sync_option(void)
{
  struct budget b;
  lua_State *L = new_state(&b);
  fsyncs = 0;
  EXPECT_EVAL(L, "return tostring(fs.write(dir .. '/synced', 'durable'))", "true");
  CHECK_INT(fsyncs, 2);
  fsyncs = 0;
  EXPECT_EVAL(L, "return tostring(fs.write(dir .. '/synced', 'again', {sync = true}))", "true");
  CHECK_INT(fsyncs, 2);
  fsyncs = 0;
  EXPECT_EVAL(L,
              "assert(fs.write(dir .. '/entry', 'old', {mode = 384}))\n"
              "assert(fs.write(dir .. '/entry', 'new', {sync = false}))\n"
              "return fs.read(dir .. '/entry') .. ' ' .. fs.stat(dir .. '/entry').mode",
              "new 384");
  CHECK_INT(fsyncs, 2); /* the first write's two: it is durable */
  EXPECT_EVAL(L,
              "local ok, msg = fs.write(dir .. '/no/such', 'x', {sync = false})\n"
              "return tostring(ok) .. '|' .. msg:sub(#dir + 8)",
              "nil|/no/such': No such file or directory");
  EXPECT_EVAL(L,
              "for _, n in ipairs(fs.list(dir)) do if n:match('%.tmp$') then return n end end\n"
              "return 'no temp file'",
              "no temp file");
  lua_close(L);
}

/* The parent holds the lock for 200 ms; a child (forked first, so it inherits no lock) finds
 * it busy, then waits for it. */
static void test_lock_across_processes(void)
{
  int pipefd[2];
  CHECK_INT(pipe(pipefd), 0);
  pid_t pid = fork();
  if (pid == 0) {
    char c;
    close(pipefd[1]);
    CHECK_INT(read(pipefd[0], &c, 1), 1); /* the parent holds the lock now */
    struct budget b;
    lua_State *L = new_state(&b);
    EXPECT_EVAL(L, "return select(3, fs.lock(dir .. '/x.lock', {wait = false}))", "busy");
    EXPECT_EVAL(L, "return select(3, fs.lock(dir .. '/x.lock', {timeout_ms = 20}))", "busy");
    double start = agent_monotonic_ms();
    EXPECT_EVAL(
        L, "local l = fs.lock(dir .. '/x.lock', {timeout_ms = 5000}) return l and 'ok' or 'no'",
        "ok");
    double waited = agent_monotonic_ms() - start;
    if (waited < 100)
      fprintf(stderr, "the lock came after %.1f ms, before the parent let go\n", waited);
    CHECK(waited >= 100);
    lua_close(L);
    _exit(test_failures ? 1 : 0);
  }
  close(pipefd[0]);
  struct budget b;
  lua_State *L = new_state(&b);
  CHECK(luaL_dostring(L, "held = assert(fs.lock(dir .. '/x.lock'))") == LUA_OK);
  CHECK_INT(write(pipefd[1], "x", 1), 1);
  close(pipefd[1]);
  struct timespec pause = {0, 200 * 1000000L};
  nanosleep(&pause, NULL);
  CHECK(luaL_dostring(L, "held:unlock()") == LUA_OK);
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  lua_close(L);
}

/* A file and a directory nobody may read: EACCES, with the path. Root reads anything, so the
 * child drops to nobody first. */
static void test_unreadable(void)
{
  write_file("secret", "s");
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/secret", dir);
  chmod(path, 0);
  snprintf(path, sizeof(path), "%s/closed", dir);
  CHECK_INT(mkdir(path, 0), 0);
  pid_t pid = fork();
  if (pid == 0) {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
      _exit(2);
    struct budget b;
    lua_State *L = new_state(&b);
    EXPECT_EVAL(L,
                "local v, msg, code = fs.read(dir .. '/secret')\n"
                "return msg == ('read \\'%s/secret\\': Permission denied'):format(dir) "
                "and tostring(code) or msg",
                "13");
    EXPECT_EVAL(L, "return select(3, fs.list(dir .. '/closed'))", "13");
    EXPECT_EVAL(L, "return select(3, fs.walk(dir .. '/closed'))", "13");
    EXPECT_EVAL(L, "return select(3, fs.write(dir .. '/closed/f', 'x'))", "13");
    lua_close(L);
    _exit(test_failures ? 1 : 0);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  rmdir(path);
  snprintf(path, sizeof(path), "%s/secret", dir);
  unlink(path);
}

/* A directory one may write but not read (0333): its fsync cannot happen, yet once the
 * rename is done the write is, and says so (it used to fail with EACCES after replacing the
 * file). The child drops to nobody, for whom the directory's mode counts. */
static void test_write_in_unreadable_dir(void)
{
  char wx[PATH_MAX + 16], path[PATH_MAX + 32];
  snprintf(wx, sizeof(wx), "%s/wx", dir);
  CHECK_INT(mkdir(wx, 0755), 0);
  write_file("wx/f", "old\n");
  snprintf(path, sizeof(path), "%s/f", wx);
  chmod(path, 0666);
  chmod(wx, 0333);
  pid_t pid = fork();
  if (pid == 0) {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
      _exit(2);
    struct budget b;
    lua_State *L = new_state(&b);
    EXPECT_EVAL(L, "return tostring(fs.write(dir .. '/wx/f', 'new\\n'))", "true");
    EXPECT_EVAL(L, "return tostring(fs.write(dir .. '/wx/g', 'fresh', {sync = false}))", "true");
    lua_close(L);
    _exit(test_failures ? 1 : 0);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  chmod(wx, 0755);
  struct budget b;
  lua_State *L = new_state(&b);
  EXPECT_EVAL(L, "return fs.read(dir .. '/wx/f') .. fs.read(dir .. '/wx/g')", "new\nfresh");
  EXPECT_EVAL(L, "return table.concat(fs.list(dir .. '/wx'), ',')", "f,g");
  lua_close(L);
  unlink(path);
  snprintf(path, sizeof(path), "%s/g", wx);
  unlink(path);
  rmdir(wx);
}

/* Runs `code` under pcall with the allocator failing after `extra` more bytes, for every extra
 * from 0 until the call succeeds. Each failure raises out of the C function mid-way (a read
 * buffer with the fd open, a walk result being pushed, a lock half made): afterwards no fd may
 * be left open, and ASan/valgrind see no leak. Returns how many budgets failed. */
static int fail_at_every_step(const char *code, size_t step)
{
  struct budget b;
  lua_State *L = new_state(&b);
  int fds = open_fds(), failures = 0;
  for (size_t extra = 0;; extra += step) {
    if (luaL_loadstring(L, code) != LUA_OK) {
      fprintf(stderr, "%s\n", lua_tostring(L, -1));
      CHECK(0);
      break;
    }
    lua_gc(L, LUA_GCCOLLECT, 0); /* no garbage for an emergency collection to find */
    b.limit = b.used + extra;
    int st = lua_pcall(L, 0, 1, 0);
    b.limit = SIZE_MAX;
    int ok = st == LUA_OK && lua_toboolean(L, -1);
    if (st != LUA_OK) {
      const char *msg = lua_tostring(L, -1);
      if (!msg || !strstr(msg, "not enough memory")) {
        fprintf(stderr, "%s: %s\n", code, msg ? msg : "(error object)");
        CHECK(0);
        break;
      }
    }
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT, 0); /* runs the __gc of anything left half made */
    CHECK_INT(open_fds(), fds);
    if (ok || extra > 4u * 1024 * 1024)
      break;
    failures++;
  }
  lua_close(L);
  CHECK_INT(open_fds(), fds);
  return failures;
}

static void test_out_of_memory(void)
{
  char big[20001];
  memset(big, 'r', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  write_file("big.txt", big);
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/tree", dir);
  CHECK_INT(mkdir(path, 0755), 0);
  for (int i = 0; i < 60; i++) {
    snprintf(path, sizeof(path), "tree/d%d", i % 6);
    char full[PATH_MAX + 300];
    snprintf(full, sizeof(full), "%s/%s", dir, path);
    mkdir(full, 0755);
    snprintf(full, sizeof(full), "%s/file%02d.txt", path, i);
    write_file(full, "x");
  }
  CHECK(fail_at_every_step("return #fs.read(dir .. '/big.txt') == 20000", 512) > 10);
  CHECK(fail_at_every_step("return #fs.walk(dir .. '/tree', {dirs = true}) == 66", 64) > 10);
  CHECK(fail_at_every_step("return #fs.list(dir .. '/tree') == 6", 16) > 3);
  CHECK(fail_at_every_step("return fs.write(dir .. '/w.txt', ('w'):rep(5000))", 16) > 0);
  CHECK(fail_at_every_step("return fs.lock(dir .. '/m.lock'):unlock()", 8) > 0);
  CHECK(fail_at_every_step("return fs.read(dir .. '/none\\0') == nil", 8) > 0);
}

int main(void)
{
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof(dir), "%s/agent-fs.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  CHECK(mkdtemp(dir) != NULL);
  chmod(dir, 0755);
  test_write_fails_half_way();
  test_write_sync_option();
  test_lock_across_processes();
  test_write_in_unreadable_dir();
  test_unreadable();
  test_out_of_memory();
  char cmd[sizeof(dir) + 32];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  CHECK_INT(system(cmd), 0);
  return TEST_DONE();
}
