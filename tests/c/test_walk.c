/* Tests for walk.c: listing, sorting, hidden files, .git, .gitignore semantics across nested
 * files, symlink loops, depth beyond PATH_MAX, unreadable entries (with privileges dropped in a
 * forked child when running as root), special files, max_files, one worker against several
 * on a tree big enough for threads, a symlink DAG bounded by max_files, a path component
 * swapped for a symlink mid-walk, cancellation, and agent_walk_list_dir. */
#include "agent_limits.h"
#include "walk.h"
#include "test.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/openat2.h>

static char root[256];

/* root/rel, in one of four buffers used in turn (so a call may take two of them). */
static const char *at(const char *rel)
{
  static char bufs[4][PATH_MAX];
  static int next;
  char *b = bufs[next++ % 4];
  int n = snprintf(b, PATH_MAX, "%s/%s", root, rel);
  CHECK(n > 0 && n < PATH_MAX);
  return b;
}

/* Creates root/rel: a directory when rel ends in '/', else a file holding its own name;
 * parents as needed. */
static void mk(const char *rel)
{
  char path[PATH_MAX];
  memcpy(path, at(rel), PATH_MAX);
  for (char *p = path + strlen(root) + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    mkdir(path, 0755);
    *p = '/';
  }
  size_t n = strlen(path);
  if (path[n - 1] == '/')
    return;
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f) {
    fputs(rel, f);
    fclose(f);
  }
}

/* Writes text into root/rel (parents must exist). */
static void put(const char *rel, const char *text)
{
  FILE *f = fopen(at(rel), "w");
  CHECK(f != NULL);
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

static void ln(const char *target, const char *rel)
{
  CHECK_INT(symlink(target, at(rel)), 0);
}

static void fresh_root(void)
{
  char cmd[2 * sizeof(root) + 64];
  if (root[0]) {
    snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s'; rm -rf '%s'", root, root);
    CHECK_INT(system(cmd), 0);
  }
  const char *tmp = getenv("TMPDIR");
  snprintf(root, sizeof(root), "%s/agent-walk.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  CHECK(mkdtemp(root) != NULL);
  chmod(root, 0755); /* a child with dropped privileges must get in */
}

/* The strings joined by '\n' (empty string for none); caller frees. */
static char *joined(const struct walk_strings *s)
{
  size_t len = 1;
  for (size_t i = 0; i < s->n; i++)
    len += strlen(walk_string(s, i)) + 1;
  char *out = malloc(len), *p = out;
  for (size_t i = 0; i < s->n; i++) {
    size_t n = strlen(walk_string(s, i));
    memcpy(p, walk_string(s, i), n);
    p += n;
    *p++ = '\n';
  }
  if (p > out)
    p--;
  *p = '\0';
  return out;
}

/* Walks the root with o; the listing must be `files` (joined by '\n') and there must be
 * `nerrors` errors. */
static void expect_walk(const struct walk_opts *o, const char *files, size_t nerrors, int line)
{
  struct walk_result r;
  int err = agent_walk_tree(root, o, &r);
  CHECK_INT(err, 0);
  char *got = joined(&r.files);
  if (strcmp(got, files) != 0 || r.errors.n != nerrors) {
    char *errs = joined(&r.errors);
    fprintf(stderr, "line %d: walk gave\n%s\n-- errors:\n%s\n", line, got, errs);
    free(errs);
  }
  CHECK_STR(got, files);
  CHECK_INT(r.errors.n, nerrors);
  free(got);
  agent_walk_result_free(&r);
}
#define EXPECT_WALK(o, files, nerrors) expect_walk(o, files, nerrors, __LINE__)

/* One of the errors of a walk with o must contain `part`; all must start "walk '<root>/". */
static void expect_error(const struct walk_opts *o, const char *part)
{
  struct walk_result r;
  CHECK_INT(agent_walk_tree(root, o, &r), 0);
  int found = 0;
  for (size_t i = 0; i < r.errors.n; i++) {
    const char *e = walk_string(&r.errors, i);
    found |= strstr(e, part) != NULL;
    CHECK(strncmp(e, "walk '", 6) == 0 && strncmp(e + 6, root, strlen(root)) == 0);
  }
  if (!found)
    fprintf(stderr, "no error contains '%s'\n", part);
  CHECK(found);
  agent_walk_result_free(&r);
}

static void test_listing(void)
{
  fresh_root();
  const char *tree[] = {"a.txt",  "b/c.txt",     "b/d/e.txt", "empty/",       ".hidden",
                        ".dir/x", ".git/config", "b/.git",    "b/d/.git/HEAD"};
  for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++)
    mk(tree[i]);
  struct walk_opts o = {0};
  EXPECT_WALK(&o, "a.txt\nb/c.txt\nb/d/e.txt", 0);
  o.hidden = 1;
  EXPECT_WALK(&o, ".dir/x\n.hidden\na.txt\nb/c.txt\nb/d/e.txt", 0);
  o.dirs = 1;
  EXPECT_WALK(&o, ".dir/\n.dir/x\n.hidden\na.txt\nb/\nb/c.txt\nb/d/\nb/d/e.txt\nempty/", 0);

  /* a trailing slash on the root changes nothing */
  size_t n = strlen(root);
  root[n] = '/';
  root[n + 1] = '\0';
  o = (struct walk_opts){0};
  EXPECT_WALK(&o, "a.txt\nb/c.txt\nb/d/e.txt", 0);
  root[n] = '\0';
}

/* Bytewise order: '-' < '.' < '/' < digits < upper < lower < UTF-8 lead bytes < 0xff. */
static void test_bytewise_order(void)
{
  fresh_root();
  const char *tree[] = {"a/x",      "a.txt",  "a-b",      "B", "Z", "a0", "\xc3\xa9t\xc3\xa9",
                        "\xff\xfe", "sp ace", "new\nline"};
  for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++)
    mk(tree[i]);
  struct walk_opts o = {0};
  EXPECT_WALK(&o, "B\nZ\na-b\na.txt\na/x\na0\nnew\nline\nsp ace\n\xc3\xa9t\xc3\xa9\n\xff\xfe", 0);
}

static void test_gitignore(void)
{
  fresh_root();
  const char *tree[] = {"x.log",       "keep.log",          "build/out",    "sub/build/out",
                        "sub/a.tmp",   "sub/important.log", "sub/local",    "sub/deeper/local",
                        "a.tmp",       "ex/keep",           "ex/other",     "doc/a.txt",
                        "doc/x/b.txt", "notes.md",          "deep/er/x.md", "deep/er/y.c"};
  for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++)
    mk(tree[i]);
  put(".gitignore", "# root\n*.log\n/build/\n!keep.log\nex/\n!ex/keep\ndoc/*.txt\n");
  put("sub/.gitignore", "*.tmp\n!important.log\n/local\n");
  put("deep/er/.gitignore", "*\n!*.c\n");
  struct walk_opts o = {.gitignore = 1};
  /* sub's patterns reach neither a.tmp at the root nor sub/deeper/local (anchored to sub);
   * ex/keep stays out because its directory is excluded, as in git */
  EXPECT_WALK(&o,
              "a.tmp\ndeep/er/y.c\ndoc/x/b.txt\nkeep.log\nnotes.md\nsub/build/out\n"
              "sub/deeper/local\nsub/important.log",
              0);
  o.hidden = 1; /* .gitignore files are listed like any dot file */
  EXPECT_WALK(&o,
              ".gitignore\na.tmp\ndeep/er/y.c\ndoc/x/b.txt\nkeep.log\nnotes.md\nsub/.gitignore\n"
              "sub/build/out\nsub/deeper/local\nsub/important.log",
              0);

  /* extra patterns sit below every .gitignore: sub's !important.log still wins */
  struct walk_pattern extra[] = {{"*.md", 4}, {"important.log", 13}, {"/a.tmp", 6}};
  o = (struct walk_opts){.gitignore = 1, .ignore = extra, .nignore = 3};
  EXPECT_WALK(&o,
              "deep/er/y.c\ndoc/x/b.txt\nkeep.log\nsub/build/out\nsub/deeper/local\n"
              "sub/important.log",
              0);
  /* without gitignore, only the extra patterns apply */
  o.gitignore = 0;
  o.nignore = 1;
  EXPECT_WALK(&o,
              "a.tmp\nbuild/out\ndeep/er/y.c\ndoc/a.txt\ndoc/x/b.txt\nex/keep\nex/other\n"
              "keep.log\nsub/a.tmp\nsub/build/out\nsub/deeper/local\nsub/important.log\n"
              "sub/local\nx.log",
              0);
}

/* A .gitignore that is a FIFO must not hang the walk; one that is a symlink is not followed,
 * as git does not; both are reported. */
static void test_odd_gitignores(void)
{
  fresh_root();
  mk("f/x.o");
  mk("f/y.c");
  mk("l/x.o");
  put("rules", "*.o\n");
  CHECK_INT(mkfifo(at("f/.gitignore"), 0644), 0);
  ln("../rules", "l/.gitignore");
  struct walk_opts o = {.gitignore = 1};
  EXPECT_WALK(&o, "f/x.o\nf/y.c\nl/x.o\nrules", 2);
  expect_error(&o, "f/.gitignore': not a regular file");

  /* a .gitignore over the per-call cap is skipped and reported; at the cap it is read */
  fresh_root();
  mk("a.o");
  put(".gitignore", "*.o\n"); /* 4 bytes */
  o = (struct walk_opts){.gitignore = 1, .max_ignore_bytes = 3};
  EXPECT_WALK(&o, "a.o", 1);
  expect_error(&o, ".gitignore': larger than the .gitignore size limit, not read");
  o.max_ignore_bytes = 4;
  EXPECT_WALK(&o, "", 0);
}

static void test_symlinks(void)
{
  fresh_root();
  mk("real/f");
  mk("top.txt");
  ln("b", "a"); /* a -> b -> a: resolving either loops */
  ln("a", "b");
  ln("real", "lnk");
  ln("top.txt", "lf");
  ln("..", "real/up"); /* back to the root */
  ln("missing", "dangling");
  struct walk_opts o = {0};
  /* not following: links to directories are left out, other links listed like files */
  EXPECT_WALK(&o, "a\nb\ndangling\nlf\nreal/f\ntop.txt", 0);
  o.follow = 1;
  /* following: lnk is walked; real/up leads back to the root, which is on the path */
  EXPECT_WALK(&o, "a\nb\ndangling\nlf\nlnk/f\nreal/f\ntop.txt", 2);
  expect_error(&o, "(loop)");
  /* a link to the directory holding it is a loop too, found under real/ and under lnk/ */
  ln("../real", "real/again");
  EXPECT_WALK(&o, "a\nb\ndangling\nlf\nlnk/f\nreal/f\ntop.txt", 4);
}

/* A tree deeper than PATH_MAX: built with mkdirat, walked without error. */
static void test_deep(void)
{
  fresh_root();
  char name[121];
  memset(name, 'd', 120);
  name[120] = '\0';
  int fd = open(root, O_RDONLY | O_DIRECTORY);
  const int depth = 40; /* 40 * 121 bytes > PATH_MAX */
  for (int i = 0; i < depth && fd >= 0; i++) {
    CHECK_INT(mkdirat(fd, name, 0755), 0);
    int next = openat(fd, name, O_RDONLY | O_DIRECTORY);
    close(fd);
    fd = next;
  }
  CHECK(fd >= 0);
  int file = openat(fd, "bottom.txt", O_WRONLY | O_CREAT, 0644);
  CHECK(file >= 0);
  close(file);
  close(fd);
  struct walk_result r;
  struct walk_opts o = {0};
  CHECK_INT(agent_walk_tree(root, &o, &r), 0);
  CHECK_INT(r.files.n, 1);
  CHECK_INT(r.errors.n, 0);
  if (r.files.n == 1) {
    const char *p = walk_string(&r.files, 0);
    CHECK_INT(strlen(p), depth * 121 + strlen("bottom.txt"));
    CHECK(strlen(p) > PATH_MAX);
    CHECK_STR(p + strlen(p) - 11, "/bottom.txt");
  }
  agent_walk_result_free(&r);
}

/* An unreadable directory and .gitignore are reported and the walk goes on. Root reads
 * anything, so then the walk runs in a child that has dropped to nobody. */
static void test_unreadable(void)
{
  fresh_root();
  mk("ok/a");
  mk("locked/secret");
  mk("z.txt");
  mk("g/x.o");
  put("g/.gitignore", "*.o\n");
  chmod(at("locked"), 0);
  chmod(at("g/.gitignore"), 0);
  pid_t pid = fork();
  if (pid == 0) {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
      _exit(2);
    struct walk_opts o = {.gitignore = 1};
    EXPECT_WALK(&o, "g/x.o\nok/a\nz.txt", 2);
    expect_error(&o, "locked': Permission denied");
    _exit(test_failures ? 1 : 0);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_special_and_limits(void)
{
  fresh_root();
  for (int i = 0; i < 10; i++) {
    char rel[16];
    snprintf(rel, sizeof(rel), "f%d", i);
    mk(rel);
  }
  CHECK_INT(mkfifo(at("pipe"), 0644), 0);
  struct walk_opts o = {0};
  EXPECT_WALK(&o, "f0\nf1\nf2\nf3\nf4\nf5\nf6\nf7\nf8\nf9", 0); /* no FIFO */
  o.max_files = 3;
  struct walk_result r;
  CHECK_INT(agent_walk_tree(root, &o, &r), 0);
  CHECK_INT(r.files.n, 3);
  CHECK_INT(r.errors.n, 1);
  if (r.errors.n == 1) {
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "walk '%s': stopped after 3 entries (max_files)", root);
    CHECK_STR(walk_string(&r.errors, 0), want);
  }
  agent_walk_result_free(&r);
}

/* Twenty directories, each with two symlinks to the next: 2^20 paths to the last one, and
 * not a loop. Following them, max_files bounds the directories entered as well as the files
 * listed, so the walk stops in moments (it took 46 s to return nothing). */
static void test_symlink_dag(void)
{
  fresh_root();
  for (int i = 0; i <= 20; i++) {
    char rel[64], target[32];
    snprintf(rel, sizeof(rel), "d%d/", i);
    mk(rel);
    if (i == 20)
      break;
    snprintf(target, sizeof(target), "../d%d", i + 1);
    snprintf(rel, sizeof(rel), "d%d/a", i);
    ln(target, rel);
    snprintf(rel, sizeof(rel), "d%d/b", i);
    ln(target, rel);
  }
  mk("d20/leaf");
  struct walk_opts o = {.follow = 1, .max_files = 1000};
  struct walk_result r;
  double t0 = agent_monotonic_ms();
  CHECK_INT(agent_walk_tree(at("d0"), &o, &r), 0);
  double ms = agent_monotonic_ms() - t0;
  if (ms >= 2000)
    fprintf(stderr, "the walk took %.0f ms\n", ms);
  CHECK(ms < 2000);
  /* some of the 2^20 paths to the leaf, and the directories on the way, make the 1000 */
  CHECK(r.files.n > 0 && r.files.n < 1000);
  for (size_t i = 0; i < r.files.n; i++)
    CHECK(strlen(walk_string(&r.files, i)) == 20 * 2 + strlen("leaf"));
  CHECK_INT(r.errors.n, 1);
  if (r.errors.n == 1)
    CHECK(strstr(walk_string(&r.errors, 0), "stopped after 1000 entries (max_files)") != NULL);
  agent_walk_result_free(&r);
  /* a cap that covers the whole chain: the leaf, by the bytewise-first of its 2^k paths */
  fresh_root();
  for (int i = 0; i <= 3; i++) {
    char rel[64], target[32];
    snprintf(rel, sizeof(rel), "d%d/", i);
    mk(rel);
    if (i == 3)
      break;
    snprintf(target, sizeof(target), "../d%d", i + 1);
    snprintf(rel, sizeof(rel), "d%d/a", i);
    ln(target, rel);
    snprintf(rel, sizeof(rel), "d%d/b", i);
    ln(target, rel);
  }
  mk("d3/leaf");
  o.max_files = 100;
  CHECK_INT(agent_walk_tree(at("d0"), &o, &r), 0);
  CHECK_INT(r.files.n, 8);
  CHECK_INT(r.errors.n, 0);
  if (r.files.n == 8)
    CHECK_STR(walk_string(&r.files, 0), "a/a/a/leaf");
  agent_walk_result_free(&r);
}

/* Without follow, a directory whose parent is swapped for a symlink between being listed and
 * being read must not lead the walk out of the tree: a swapper child flips root/a between a
 * real directory and a link to a tree outside, while the walk runs again and again. */
static void test_swapped_component(void)
{
  /* Only openat2 guards every component; without it (valgrind, kernels before 5.6) the walk
   * falls back to guarding the last one, which this race defeats by design. */
  struct open_how probe = {.flags = O_RDONLY | O_DIRECTORY, .resolve = RESOLVE_NO_SYMLINKS};
  int pfd = (int)syscall(SYS_openat2, AT_FDCWD, ".", &probe, sizeof(probe));
  if (pfd < 0 && (errno == ENOSYS || errno == EPERM)) {
    printf("test_swapped_component: skipped, openat2 is not available here\n");
    return;
  }
  if (pfd >= 0)
    close(pfd);
  fresh_root();
  mk("a/b/inside");
  mk("out/b/secret");
  char outside[PATH_MAX], real[PATH_MAX], link[PATH_MAX], tmp[PATH_MAX];
  snprintf(outside, sizeof(outside), "%s", at("out"));
  snprintf(real, sizeof(real), "%s", at("a.real"));
  snprintf(link, sizeof(link), "%s", at("a"));
  snprintf(tmp, sizeof(tmp), "%s", at("a.tmp"));
  CHECK_INT(rename(link, real), 0);
  CHECK_INT(mkdir(at("top"), 0755), 0);
  char top_a[PATH_MAX];
  snprintf(top_a, sizeof(top_a), "%s", at("top/a"));
  CHECK_INT(rename(real, top_a), 0);
  snprintf(real, sizeof(real), "%s", at("top/a.real"));
  snprintf(tmp, sizeof(tmp), "%s", at("top/a.tmp"));
  pid_t pid = fork();
  if (pid == 0) { /* flip top/a: real directory <-> symlink to out, by atomic renames */
    for (;;) {
      if (rename(top_a, real) == 0) {
        if (symlink(outside, tmp) == 0)
          rename(tmp, top_a);
        unlink(top_a);
        rename(real, top_a);
      }
    }
  }
  struct walk_opts o = {.threads = 1};
  int leaked = 0;
  for (int i = 0; i < 3000 && !leaked; i++) {
    struct walk_result r;
    if (agent_walk_tree(at("top"), &o, &r) == 0)
      for (size_t k = 0; k < r.files.n; k++)
        leaked |= strstr(walk_string(&r.files, k), "secret") != NULL;
    agent_walk_result_free(&r);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  CHECK(!leaked);
  rename(real, top_a);
  unlink(tmp);
}

static void test_bad_roots(void)
{
  fresh_root();
  mk("file");
  struct walk_result r;
  struct walk_opts o = {0};
  CHECK_INT(agent_walk_tree(at("missing"), &o, &r), ENOENT);
  CHECK_INT(r.files.n + r.errors.n, 0);
  agent_walk_result_free(&r);
  CHECK_INT(agent_walk_tree(at("file"), &o, &r), ENOTDIR);
  agent_walk_result_free(&r);
  CHECK_INT(agent_walk_tree("", &o, &r), ENOENT);
  agent_walk_result_free(&r);
}

/* Walks the root with o by one worker and by AGENT_FS_WALK_THREADS_MAX: the same listing and
 * the same errors. Returns the number of files listed. */
static size_t expect_same_threaded(struct walk_opts o, int line)
{
  struct walk_result one, many;
  o.threads = 1;
  CHECK_INT(agent_walk_tree(root, &o, &one), 0);
  o.threads = AGENT_FS_WALK_THREADS_MAX;
  CHECK_INT(agent_walk_tree(root, &o, &many), 0);
  char *a = joined(&one.files), *b = joined(&many.files);
  char *ea = joined(&one.errors), *eb = joined(&many.errors);
  if (strcmp(a, b) != 0 || strcmp(ea, eb) != 0)
    fprintf(stderr, "line %d: one worker and several differ\n", line);
  CHECK_STR(b, a);
  CHECK_STR(eb, ea);
  size_t n = one.files.n;
  free(a);
  free(b);
  free(ea);
  free(eb);
  agent_walk_result_free(&one);
  agent_walk_result_free(&many);
  return n;
}

/* A tree of some 350 directories, more than the calling thread reads alone, so helpers read
 * most of it: .gitignore files at three depths, a symlink back to the root, dot files. */
static void test_threads(void)
{
  fresh_root();
  for (int i = 0; i < 300; i++) {
    char rel[64];
    snprintf(rel, sizeof(rel), "d%02d/s%03d/f%d.%s", i % 30, i, i, i % 3 ? "c" : "log");
    mk(rel);
    if (i % 7 == 0) {
      snprintf(rel, sizeof(rel), "d%02d/s%03d/.hidden/x", i % 30, i);
      mk(rel);
    }
  }
  put(".gitignore", "*.log\n");
  put("d07/.gitignore", "!*.log\n/s037/\n");
  put("d07/s007/.gitignore", "*.c\n");
  ln("..", "d03/up");
  struct walk_opts o = {0};
  CHECK_INT(expect_same_threaded(o, __LINE__), 300);
  o.gitignore = 1;
  size_t kept = expect_same_threaded(o, __LINE__);
  CHECK(kept > 150 && kept < 300);
  o.hidden = 1;
  o.dirs = 1;
  CHECK(expect_same_threaded(o, __LINE__) > kept);
  o.follow = 1; /* d03/up leads back to the root: one loop error, the same in both */
  expect_same_threaded(o, __LINE__);
  expect_error(&o, "d03/up': symlink to an ancestor directory");

  /* several workers stop at max_files too: exactly that many, in order, each a real entry */
  o = (struct walk_opts){.max_files = 100, .threads = AGENT_FS_WALK_THREADS_MAX};
  struct walk_result r;
  CHECK_INT(agent_walk_tree(root, &o, &r), 0);
  CHECK_INT(r.files.n, 100);
  CHECK_INT(r.errors.n, 1);
  for (size_t i = 0; i < r.files.n; i++) {
    struct stat st;
    CHECK_INT(stat(at(walk_string(&r.files, i)), &st), 0);
    if (i > 0)
      CHECK(strcmp(walk_string(&r.files, i - 1), walk_string(&r.files, i)) < 0);
  }
  agent_walk_result_free(&r);
}

/* A walk whose cancel flag is set fails with ECANCELED and lists nothing, whatever the
 * number of workers; a flag left clear changes nothing. */
static void test_cancel(void)
{
  fresh_root();
  for (int i = 0; i < 200; i++) {
    char rel[64];
    snprintf(rel, sizeof(rel), "d%02d/s%03d/f%d", i % 20, i, i);
    mk(rel);
  }
  atomic_int stop = 0;
  for (size_t threads = 1; threads <= 2; threads++) {
    struct walk_opts o = {.threads = threads, .cancel = &stop};
    struct walk_result r;
    atomic_store(&stop, 0);
    CHECK_INT(agent_walk_tree(root, &o, &r), 0);
    CHECK_INT(r.files.n, 200);
    agent_walk_result_free(&r);
    atomic_store(&stop, 1);
    CHECK_INT(agent_walk_tree(root, &o, &r), ECANCELED);
    CHECK_INT(r.files.n, 0);
    CHECK_INT(r.errors.n, 0);
    agent_walk_result_free(&r);
  }
}

static void test_list_dir(void)
{
  fresh_root();
  const char *tree[] = {"b", "a/", ".h", "C", "\xff"};
  for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++)
    mk(tree[i]);
  struct walk_strings s;
  CHECK_INT(agent_walk_list_dir(root, &s), 0);
  char *got = joined(&s);
  CHECK_STR(got, ".h\nC\na\nb\n\xff");
  free(got);
  agent_walk_strings_free(&s);
  CHECK_INT(agent_walk_list_dir(at("b"), &s), ENOTDIR);
  CHECK_INT(agent_walk_list_dir(at("nope"), &s), ENOENT);
  CHECK_INT(s.n, 0);
}

int main(void)
{
  test_listing();
  test_bytewise_order();
  test_gitignore();
  test_odd_gitignores();
  test_symlinks();
  test_deep();
  test_unreadable();
  test_special_and_limits();
  test_threads();
  test_symlink_dag();
  test_swapped_component();
  test_bad_roots();
  test_cancel();
  test_list_dir();
  fresh_root(); /* removes the last tree */
  rmdir(root);
  return TEST_DONE();
}
