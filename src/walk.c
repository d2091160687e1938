/* The directory walker (see walk.h). Directories wait on one shared stack; workers take one
 * at a time, read it whole with getdents64 into their own buffer (the entry type the kernel
 * lists instead of a stat per entry), list its paths into their own packed strings and push
 * its subdirectories. The caller is the first worker, and starts the others (a few threads,
 * one per online CPU) only once the tree has shown it is big enough to pay for them. The
 * .gitignore lists are chained from each directory up to the root and never change once
 * made, so a directory's chain is shared by its children whichever thread reads them. At the
 * end each worker sorts its own paths and the caller merges them: the output is in bytewise
 * order, the same whoever read what. */
#include "walk.h"

#include "util.h"

#include "agent_limits.h"
#include "ignore.h"

#include <dirent.h> /* DT_* */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h> /* struct open_how, RESOLVE_* */

/* Directories the calling thread reads alone before it starts helpers: a tree that small
 * takes well under a millisecond, about what starting and joining the threads would cost. */
#define WALK_SOLO_DIRS 32

/* ==== Packed strings ====================================================================== */

void agent_walk_strings_free(struct walk_strings *s)
{
  free(s->buf);
  free(s->off);
  memset(s, 0, sizeof(*s));
}

/* Grows the array at arrp (a `T **`; elements of `size` bytes, capacity *cap) to hold `need`:
 * agent_reserve, which cannot overflow, with its failure as the errno the walk reports. */
static int grow(void *arrp, size_t *cap, size_t need, size_t size)
{
  return agent_reserve(arrp, cap, need, size) ? ENOMEM : 0;
}

/* Lists the string that starts at offset `at` of s->buf. 0 or ENOMEM. */
static int strings_list(struct walk_strings *s, size_t at)
{
  if (grow(&s->off, &s->cap_off, s->n + 1, sizeof(*s->off)))
    return ENOMEM;
  s->off[s->n++] = at;
  return 0;
}

/* Appends and lists a copy of str (len bytes). 0 or ENOMEM. */
static int strings_add(struct walk_strings *s, const char *str, size_t len)
{
  if (grow(&s->buf, &s->cap, s->len + len + 1, 1) || strings_list(s, s->len))
    return ENOMEM;
  memcpy(s->buf + s->len, str, len);
  s->buf[s->len + len] = '\0';
  s->len += len + 1;
  return 0;
}

static int cmp_bytes(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b); /* compares as unsigned */
}

/* Sorts the listed strings bytewise (the buffer itself stays as it is). 0 or ENOMEM. */
static int strings_sort(struct walk_strings *s)
{
  if (s->n < 2)
    return 0;
  const char **ptrs = malloc(s->n * sizeof(*ptrs));
  if (!ptrs)
    return ENOMEM;
  for (size_t i = 0; i < s->n; i++)
    ptrs[i] = s->buf + s->off[i];
  qsort(ptrs, s->n, sizeof(*ptrs), cmp_bytes);
  for (size_t i = 0; i < s->n; i++)
    s->off[i] = (size_t)(ptrs[i] - s->buf);
  free(ptrs);
  return 0;
}

/* Merges the sorted lists in[0..k) into *out, bytewise, copying the strings into one buffer.
 * The lists stay as they are. 0 or ENOMEM (*out is then freed). */
static int strings_merge(const struct walk_strings *in, size_t k, struct walk_strings *out)
{
  size_t len = 0, n = 0;
  for (size_t j = 0; j < k; j++) {
    len += in[j].len;
    n += in[j].n;
  }
  memset(out, 0, sizeof(*out));
  if (n == 0)
    return 0;
  size_t next[AGENT_FS_WALK_THREADS_MAX] = {0};
  out->buf = malloc(len);
  out->off = malloc(n * sizeof(*out->off));
  if (!out->buf || !out->off) {
    agent_walk_strings_free(out);
    return ENOMEM;
  }
  out->cap = len;
  out->cap_off = n;
  while (out->n < n) {
    size_t pick = k;
    for (size_t j = 0; j < k; j++)
      if (next[j] < in[j].n && (pick == k || strcmp(walk_string(&in[j], next[j]),
                                                    walk_string(&in[pick], next[pick])) < 0))
        pick = j;
    const char *s = walk_string(&in[pick], next[pick]++);
    size_t slen = strlen(s) + 1;
    memcpy(out->buf + out->len, s, slen);
    out->off[out->n++] = out->len;
    out->len += slen;
  }
  return 0;
}

void agent_walk_result_free(struct walk_result *r)
{
  agent_walk_strings_free(&r->files);
  agent_walk_strings_free(&r->errors);
}

/* ==== Opening directories =================================================================
 * Without follow, a directory met as a real entry is reopened later by its path from the
 * root, and a component swapped for a symlink meanwhile must not lead the walk elsewhere.
 * openat2 with RESOLVE_NO_SYMLINKS refuses a symlink in every component (ELOOP) at no extra
 * cost; where the kernel lacks it (ENOSYS before Linux 5.6; EPERM from container seccomp
 * filters that predate it, as open itself never fails with EPERM here) only the
 * last component is protected, with O_NOFOLLOW. */

enum resolve {
  RESOLVE_FOLLOW,       /* symlinks followed anywhere (the root, or walks that follow) */
  RESOLVE_LAST,         /* no symlink as the last component */
  RESOLVE_NONE_BENEATH, /* no symlink anywhere, and nothing outside the starting directory */
};

/* Opens directory name (a run of components) relative to at. last: name ends the path. */
static int open_step(int at, const char *name, int last, enum resolve how)
{
  const int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  if (how == RESOLVE_NONE_BENEATH) {
    struct open_how oh = {.flags = (uint64_t)flags,
                          .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH};
    return (int)syscall(SYS_openat2, at, name, &oh, sizeof(oh));
  }
  return openat(at, name, flags | (how == RESOLVE_LAST && last ? O_NOFOLLOW : 0));
}

/* Opens the directory at path (relative to at, or AT_FDCWD), which may be longer than
 * PATH_MAX: such a path is opened a run of whole components at a time, so depth never limits
 * the walk. Returns an fd, or -1 with errno set. */
static int open_dir(int at, const char *path, size_t len, enum resolve how)
{
  char chunk[PATH_MAX];
  int dir = at; /* owned once it differs from at */
  while (len >= PATH_MAX) {
    size_t cut = PATH_MAX - 1;
    while (cut > 0 && path[cut] != '/')
      cut--;
    int next = -1;
    if (cut == 0) { /* one component alone is too long */
      errno = ENAMETOOLONG;
    } else {
      memcpy(chunk, path, cut);
      chunk[cut] = '\0';
      next = open_step(dir, chunk, 0, how);
    }
    int saved = errno;
    if (dir != at)
      close(dir);
    errno = saved;
    if (next < 0)
      return -1;
    dir = next;
    path += cut + 1;
    len -= cut + 1;
  }
  if (len == 0 && dir == at) { /* "" names nothing, as open() says */
    errno = ENOENT;
    return -1;
  }
  int fd = open_step(dir, len ? path : ".", 1, how); /* "." after a trailing '/' */
  int saved = errno;
  if (dir != at)
    close(dir);
  errno = saved;
  return fd;
}

/* ==== Reading directories ================================================================
 * All entries of a directory are read before any is handled, so its .gitignore is known up
 * front (rather than trying to open one in every directory). getdents64 fills one growing
 * buffer per worker, reused for every directory it reads: glibc's opendir/readdir would add
 * an fstat, two fcntl calls and a malloc per directory, half the system calls of a walk.
 * Linux only, as agent is (getrandom, /proc). */

struct entry { /* the kernel's linux_dirent64 record, 8-byte aligned */
  uint64_t ino;
  int64_t off;
  unsigned short reclen;
  unsigned char type; /* DT_* */
  char name[];
};

struct entries {
  char *buf; /* records back to back */
  size_t len, cap;
};

#define ENTRIES_ROOM 32768 /* free space offered to each getdents64 call */

/* Reads every entry of directory fd into e, replacing what it held. 0 or an errno. */
static int read_entries(int fd, struct entries *e)
{
  e->len = 0;
  for (;;) {
    if (grow(&e->buf, &e->cap, e->len + ENTRIES_ROOM, 1))
      return ENOMEM;
    long n = syscall(SYS_getdents64, fd, e->buf + e->len, e->cap - e->len);
    if (n < 0)
      return errno;
    if (n == 0)
      return 0;
    e->len += (size_t)n;
  }
}

static const struct entry *entry_at(const struct entries *e, size_t pos)
{
  return (const struct entry *)(const void *)(e->buf + pos);
}

/* ==== The walk's shared state ============================================================= */

/* One .gitignore's patterns, in force below its directory. Never changed once made. */
struct frame {
  struct ignore_list *list;
  const struct frame *parent; /* the list of an enclosing directory, or NULL */
};

/* A directory met. Its reader sets frame (when it has a .gitignore) and dev/ino before it
 * pushes the children that read them; nothing writes it after that. */
struct dir {
  const struct dir *parent;  /* NULL for the root */
  const struct frame *frame; /* the innermost ignore list in force inside it, or NULL */
  dev_t dev;                 /* identity, kept when following symlinks, to stop loops */
  ino_t ino;
  size_t len;  /* its path relative to the root, without the trailing '/' (0: the root) */
  char path[]; /* NUL-terminated */
};

/* What the workers share: set before they start and read-only after, but for the fields
 * under the lock. */
struct walk {
  const struct walk_opts *opts;
  char *prefix; /* the root with one '/' after it: where every path is opened */
  size_t prefix_len;
  size_t root_shown; /* the root's length as given, for messages about the root itself */
  int root_fd;       /* the root, open for the walk: directories are opened beneath it */
  size_t max_files;
  pthread_mutex_t lock;
  pthread_cond_t wake; /* directories were pushed, or the walk is over */
  /* under lock: */
  struct dir **todo; /* directories still to read, a stack */
  size_t ntodo, cap_todo;
  size_t busy;   /* workers reading a directory now */
  size_t listed; /* entries listed, counted as each directory is done */
  int err;       /* ENOMEM, or ECANCELED (opts->cancel): stop and fail */
  int stopped;   /* more than max_files listed */
};

/* One worker. Only its own thread touches it until the walk ends. */
struct worker {
  struct walk *wk;
  struct walk_result out; /* its listed paths and errors */
  struct entries entries; /* the buffer it reads every directory into */
  struct dir **kids;      /* subdirectories of the directory being read, pushed when it is done */
  size_t nkids, cap_kids;
  struct dir **dirs;      /* the dirs and frames it made: others read them, so they are freed */
  size_t ndirs, cap_dirs; /* only when the walk is over */
  struct frame **frames;
  size_t nframes, cap_frames;
  size_t listed;  /* entries listed in the directory being read */
  size_t budget;  /* listing this many there passes max_files whatever the others do */
  int holding;    /* it has taken a directory and not yet handed in what it found */
  int err;        /* ENOMEM */
  int full;       /* the budget is spent: the walk has passed max_files */
  int no_openat2; /* openat2 is unavailable: open by path, protecting the last component */
  pthread_t thread;
};

/* Records "walk '<root>/<rel><tail>': <reason>" for an entry that could not be read; an empty
 * rel and tail name the root as it was given. */
static void report(struct worker *w, const char *rel, size_t rel_len, const char *tail,
                   const char *reason)
{
  struct walk_strings *e = &w->out.errors;
  const struct walk *wk = w->wk;
  int root = (int)(rel_len || *tail ? wk->prefix_len : wk->root_shown);
  int n =
      snprintf(NULL, 0, "walk '%.*s%.*s%s': %s", root, wk->prefix, (int)rel_len, rel, tail, reason);
  if (n < 0 || grow(&e->buf, &e->cap, e->len + (size_t)n + 1, 1) || strings_list(e, e->len)) {
    w->err = ENOMEM;
    return;
  }
  snprintf(e->buf + e->len, (size_t)n + 1, "walk '%.*s%.*s%s': %s", root, wk->prefix, (int)rel_len,
           rel, tail, reason);
  e->len += (size_t)n + 1;
}

/* report() with errno's text as the reason: strerror_r, since workers run at once. */
static void report_errno(struct worker *w, const char *rel, size_t rel_len, const char *tail,
                         int err)
{
  char reason[128];
  if (strerror_r(err, reason, sizeof(reason)) != 0)
    snprintf(reason, sizeof(reason), "error %d", err);
  report(w, rel, rel_len, tail, reason);
}

/* Whether the innermost list with an opinion about path excludes it (git's precedence: a
 * deeper .gitignore overrides a shallower one, the extra patterns come last). */
static int is_ignored(const struct frame *f, const char *path, size_t len, int is_dir)
{
  for (; f; f = f->parent) {
    enum ignore_verdict v = agent_ignore_match(f->list, path, len, is_dir);
    if (v != IGNORE_NONE)
      return v == IGNORE_EXCLUDED;
  }
  return 0;
}

/* A new frame for list (taken over) within `parent`, owned by the worker; NULL when out of
 * memory (the list is then freed). */
static const struct frame *new_frame(struct worker *w, struct ignore_list *list,
                                     const struct frame *parent)
{
  struct frame *f = malloc(sizeof(*f));
  if (!f || grow(&w->frames, &w->cap_frames, w->nframes + 1, sizeof(*w->frames))) {
    free(f);
    agent_ignore_free(list);
    w->err = ENOMEM;
    return NULL;
  }
  *f = (struct frame){list, parent};
  w->frames[w->nframes++] = f;
  return f;
}

/* A new directory named by path[0..len) within parent (NULL for the root), owned by the
 * worker; NULL when out of memory. */
static struct dir *new_dir(struct worker *w, const struct dir *parent, const struct frame *frame,
                           const char *path, size_t len)
{
  struct dir *d = malloc(sizeof(*d) + len + 1);
  if (!d || grow(&w->dirs, &w->cap_dirs, w->ndirs + 1, sizeof(*w->dirs))) {
    free(d);
    w->err = ENOMEM;
    return NULL;
  }
  *d = (struct dir){parent, frame, 0, 0, len};
  memcpy(d->path, path, len);
  d->path[len] = '\0';
  w->dirs[w->ndirs++] = d;
  return d;
}

/* ==== .gitignore files ==================================================================== */

/* Reads a regular file of at most max bytes through fd (which it closes) into a new buffer.
 * Returns it (caller frees) with *len set, or NULL with errno set (EFBIG when too large). */
static char *slurp(int fd, size_t max, size_t *len)
{
  struct stat st;
  char *buf = NULL;
  if (fstat(fd, &st) != 0)
    goto fail;
  if (!S_ISREG(st.st_mode)) {
    errno = EINVAL;
    goto fail;
  }
  if ((unsigned long long)st.st_size > max) {
    errno = EFBIG;
    goto fail;
  }
  size_t size = (size_t)st.st_size, got = 0;
  buf = malloc(size + 1);
  if (!buf)
    goto fail;
  while (got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      goto fail;
    if (r == 0)
      break; /* shrank meanwhile: use what is there */
    got += (size_t)r;
  }
  close(fd);
  *len = got;
  return buf;
fail:;
  int saved = errno;
  free(buf);
  close(fd);
  errno = saved;
  return NULL;
}

/* Reports why directory d's .gitignore could not be used, from the errno of opening or
 * reading it. */
static void gitignore_problem(struct worker *w, const struct dir *d, int err)
{
  const char *tail = d->len ? "/.gitignore" : ".gitignore";
  if (err == ELOOP)
    report(w, d->path, d->len, tail, "a symlink, not followed (as git does)");
  else if (err == EINVAL)
    report(w, d->path, d->len, tail, "not a regular file, not read");
  else if (err == EFBIG)
    report(w, d->path, d->len, tail, "larger than the .gitignore size limit, not read");
  else
    report_errno(w, d->path, d->len, tail, err);
}

/* Makes the patterns of directory d's .gitignore (d is open as dfd), if it has any, the
 * innermost list in force inside d. O_NONBLOCK: a FIFO planted as .gitignore must not hang
 * the walk. */
static void load_gitignore(struct worker *w, struct dir *d, int dfd)
{
  int fd = openat(dfd, ".gitignore", O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  size_t len = 0;
  size_t cap = w->wk->opts->max_ignore_bytes;
  char *text = fd < 0 ? NULL : slurp(fd, cap ? cap : AGENT_FS_IGNORE_FILE_MAX, &len);
  if (!text) {
    if (errno != ENOENT && errno != ENOTDIR)
      gitignore_problem(w, d, errno);
    return;
  }
  struct ignore_list *list = agent_ignore_new(d->path, d->len);
  if (!list || agent_ignore_add_text(list, text, len)) {
    agent_ignore_free(list);
    w->err = ENOMEM;
  } else if (agent_ignore_count(list) == 0) {
    agent_ignore_free(list);
  } else {
    const struct frame *f = new_frame(w, list, d->frame);
    if (f)
      d->frame = f;
  }
  free(text);
}

/* Whether the entries hold a .gitignore. */
static int has_gitignore(const struct entries *e)
{
  for (size_t pos = 0; pos < e->len; pos += entry_at(e, pos)->reclen)
    if (strcmp(entry_at(e, pos)->name, ".gitignore") == 0)
      return 1;
  return 0;
}

/* ==== Reading one directory =============================================================== */

enum kind { SKIP, FILE_ENTRY, DIR_ENTRY, LINKED_DIR };

/* What a symlink stands for: listed like a file unless it resolves to a directory (walked only
 * with follow) or to a special file. A dangling or looping link is listed, as git lists it. */
static enum kind link_kind(const struct walk_opts *o, int dfd, const char *name, struct stat *st)
{
  if (fstatat(dfd, name, st, 0) != 0)
    return FILE_ENTRY;
  if (S_ISDIR(st->st_mode))
    return o->follow ? LINKED_DIR : SKIP;
  return S_ISREG(st->st_mode) ? FILE_ENTRY : SKIP;
}

/* The kind of a directory entry, from d_type when the file system gives it (no syscall). Only
 * regular files, directories and symlinks are listed: FIFOs, sockets and devices are skipped. */
static enum kind entry_kind(const struct walk_opts *o, int dfd, const char *name,
                            unsigned char type, struct stat *st)
{
  switch (type) {
  case DT_REG:
    return FILE_ENTRY;
  case DT_DIR:
    return DIR_ENTRY;
  case DT_LNK:
    return link_kind(o, dfd, name, st);
  case DT_UNKNOWN:
    break;
  default:
    return SKIP;
  }
  if (fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) != 0)
    return SKIP; /* gone since it was listed */
  if (S_ISLNK(st->st_mode))
    return link_kind(o, dfd, name, st);
  return S_ISDIR(st->st_mode) ? DIR_ENTRY : S_ISREG(st->st_mode) ? FILE_ENTRY : SKIP;
}

/* Whether directory (dev, ino) is d or one of its ancestors: following a symlink there would
 * loop. */
static int on_path(const struct dir *d, dev_t dev, ino_t ino)
{
  for (; d; d = d->parent)
    if (d->dev == dev && d->ino == ino)
      return 1;
  return 0;
}

/* Lists the path of len bytes just written at the end of the worker's files, unless its
 * budget is spent (the walk then has more than max_files entries, and stops). */
static void list_path(struct worker *w, size_t len)
{
  struct walk_strings *f = &w->out.files;
  if (w->listed >= w->budget) {
    w->full = 1;
  } else if (strings_list(f, f->len)) {
    w->err = ENOMEM;
  } else {
    f->len += len + 1;
    w->listed++;
  }
}

/* Handles entry `name` (of d_type `type`) of directory d, open as dfd. */
static void visit(struct worker *w, const struct dir *d, int dfd, const char *name,
                  unsigned char type)
{
  const struct walk_opts *o = w->wk->opts;
  if (name[0] == '.') {
    if (name[1] == '\0' || (name[1] == '.' && name[2] == '\0') || strcmp(name, ".git") == 0 ||
        !o->hidden)
      return;
  }
  struct stat st;
  enum kind kind = entry_kind(o, dfd, name, type, &st);
  if (kind == SKIP)
    return;
  /* Write "<dir>/<name>" at the end of the worker's files: kept only if listed. */
  struct walk_strings *f = &w->out.files;
  size_t dlen = d->len, nlen = strlen(name);
  if (grow(&f->buf, &f->cap, f->len + dlen + nlen + 3, 1)) {
    w->err = ENOMEM;
    return;
  }
  char *dst = f->buf + f->len;
  if (dlen) {
    memcpy(dst, d->path, dlen);
    dst[dlen++] = '/';
  }
  memcpy(dst + dlen, name, nlen);
  size_t len = dlen + nlen;
  dst[len] = '\0';
  int is_dir = kind != FILE_ENTRY;
  if (d->frame && is_ignored(d->frame, dst, len, is_dir))
    return;
  if (!is_dir) {
    list_path(w, len);
    return;
  }
  if (kind == LINKED_DIR && on_path(d, st.st_dev, st.st_ino)) {
    report(w, dst, len, "", "symlink to an ancestor directory, not followed (loop)");
    return;
  }
  /* Following symlinks, the paths through a tree can be exponentially many (each directory of
   * a chain linking twice to the next): every directory entered counts toward max_files,
   * listed or not, so the cap bounds the work and not only the output. */
  if (o->follow && !o->dirs) {
    if (w->listed >= w->budget) {
      w->full = 1;
      return;
    }
    w->listed++;
  }
  struct dir *kid = new_dir(w, d, d->frame, dst, len);
  if (!kid || grow(&w->kids, &w->cap_kids, w->nkids + 1, sizeof(*w->kids))) {
    w->err = ENOMEM;
    return;
  }
  w->kids[w->nkids++] = kid;
  if (o->dirs) {
    dst[len] = '/';
    dst[len + 1] = '\0';
    list_path(w, len + 1);
  }
}

/* Opens directory d by its path under the root; -1 (reported) when it cannot be read. A
 * directory reached through a real entry must still be one, through no symlink. */
static int open_node(struct worker *w, const struct dir *d)
{
  const struct walk *wk = w->wk;
  int fd;
  if (wk->opts->follow) {
    fd = open_dir(wk->root_fd, d->path, d->len, RESOLVE_FOLLOW);
  } else {
    fd = w->no_openat2 ? -1 : open_dir(wk->root_fd, d->path, d->len, RESOLVE_NONE_BENEATH);
    if (w->no_openat2 || (fd < 0 && (errno == ENOSYS || errno == EPERM))) {
      w->no_openat2 = 1;
      fd = open_dir(wk->root_fd, d->path, d->len, RESOLVE_LAST);
    }
  }
  if (fd < 0)
    report_errno(w, d->path, d->len, "", errno);
  return fd;
}

/* Reads directory d, open as fd (which it closes): its paths are listed, its subdirectories
 * collected in w->kids. */
static void read_dir(struct worker *w, struct dir *d, int fd)
{
  const struct walk_opts *o = w->wk->opts;
  if (o->follow) {
    struct stat st;
    if (fstat(fd, &st) == 0) {
      d->dev = st.st_dev;
      d->ino = st.st_ino;
    }
  }
  const struct entries *e = &w->entries;
  int err = read_entries(fd, &w->entries);
  if (err == ENOMEM)
    w->err = ENOMEM;
  else if (err) /* unreadable, or gone or broken mid-read: what was read is still used */
    report_errno(w, d->path, d->len, "", err);
  if (o->gitignore && has_gitignore(e))
    load_gitignore(w, d, fd);
  for (size_t pos = 0; pos < e->len && !w->err && !w->full; pos += entry_at(e, pos)->reclen)
    visit(w, d, fd, entry_at(e, pos)->name, entry_at(e, pos)->type);
  close(fd);
}

/* ==== The work list ======================================================================= */

/* Hands in what the worker found in the directory it holds, if any (its subdirectories, how
 * many entries it listed, a failure), and takes the next directory to read, waiting while
 * others may still push some. NULL when the walk is over for everyone: nothing is left, or it
 * failed, or it passed max_files. */
static struct dir *trade(struct worker *w)
{
  struct walk *wk = w->wk;
  pthread_mutex_lock(&wk->lock);
  if (w->holding) {
    w->holding = 0;
    wk->busy--;
    wk->listed += w->listed;
    if (w->err)
      wk->err = w->err;
    else if (grow(&wk->todo, &wk->cap_todo, wk->ntodo + w->nkids, sizeof(*wk->todo)))
      wk->err = ENOMEM;
    if (!wk->err && w->nkids > 0) {
      memcpy(wk->todo + wk->ntodo, w->kids, w->nkids * sizeof(*w->kids));
      wk->ntodo += w->nkids;
    }
    if (wk->listed > wk->max_files)
      wk->stopped = 1;
    if (w->nkids > 0 || wk->busy == 0 || wk->err || wk->stopped)
      pthread_cond_broadcast(&wk->wake);
    w->nkids = 0;
    w->listed = 0;
  }
  while (!wk->err && !wk->stopped && wk->ntodo == 0 && wk->busy > 0)
    pthread_cond_wait(&wk->wake, &wk->lock);
  if (!wk->err && wk->opts->cancel &&
      atomic_load_explicit(wk->opts->cancel, memory_order_relaxed)) {
    wk->err = ECANCELED;
    pthread_cond_broadcast(&wk->wake);
  }
  struct dir *d = NULL;
  if (!wk->err && !wk->stopped && wk->ntodo > 0) {
    d = wk->todo[--wk->ntodo];
    wk->busy++;
    w->holding = 1;
    w->budget = wk->max_files - wk->listed + 1; /* listed <= max_files while not stopped */
  }
  pthread_mutex_unlock(&wk->lock);
  return d;
}

/* Reads directories until the walk is over (returns 0) or, with `solo`, until it has read
 * that many (returns 1: the caller may then start helpers and call again). */
static int work(struct worker *w, size_t solo)
{
  struct dir *d;
  while ((d = trade(w)) != NULL) {
    int fd = open_node(w, d);
    if (fd >= 0)
      read_dir(w, d, fd);
    if (solo && --solo == 0)
      return 1;
  }
  return 0;
}

/* A helper thread: works, then sorts what it listed while the others finish. */
static void *helper(void *arg)
{
  struct worker *w = arg;
  work(w, 0);
  if (strings_sort(&w->out.files) || strings_sort(&w->out.errors))
    w->err = ENOMEM;
  return NULL;
}

/* ==== The walk ============================================================================ */

/* How many workers may read at once, the caller included: opts->threads, or one per online
 * CPU; at most AGENT_FS_WALK_THREADS_MAX. */
static size_t workers_wanted(const struct walk_opts *o)
{
  size_t n = o->threads;
  if (n == 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    n = cpus > 0 ? (size_t)cpus : 1;
  }
  return n < AGENT_FS_WALK_THREADS_MAX ? n : AGENT_FS_WALK_THREADS_MAX;
}

/* Starts helper threads for w[1..n) with every signal blocked in them, so that SIGINT and
 * SIGTERM still reach the calling thread. Returns how many workers run, the caller included:
 * a helper that cannot start (no memory, a thread limit) is simply not there. */
static size_t start_helpers(struct worker *w, size_t n)
{
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  size_t running = 1;
  while (running < n && pthread_create(&w[running].thread, NULL, helper, &w[running]) == 0)
    running++;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return running;
}

/* The root directory, with the extra patterns as the outermost ignore list; the root prefix
 * ("<root>/") in wk. Both owned by w (the caller's worker). NULL when out of memory. */
static struct dir *start(struct walk *wk, struct worker *w, const char *root)
{
  size_t len = strlen(root);
  int slash = len > 0 && root[len - 1] != '/';
  wk->prefix = malloc(len + 2);
  if (!wk->prefix)
    return NULL;
  memcpy(wk->prefix, root, len);
  wk->prefix[len] = '/';
  wk->prefix[len + slash] = '\0';
  wk->prefix_len = len + (size_t)slash;
  wk->root_shown = len;
  const struct frame *extra = NULL;
  if (wk->opts->nignore > 0) {
    struct ignore_list *list = agent_ignore_new("", 0);
    int err = list == NULL;
    for (size_t i = 0; i < wk->opts->nignore && !err; i++)
      err = agent_ignore_add_line(list, wk->opts->ignore[i].text, wk->opts->ignore[i].len);
    if (err) {
      agent_ignore_free(list);
      return NULL;
    }
    extra = new_frame(w, list, NULL);
    if (!extra)
      return NULL;
  }
  return new_dir(w, NULL, extra, "", 0);
}

/* Frees a worker and what it made. */
static void worker_free(struct worker *w)
{
  agent_walk_result_free(&w->out);
  free(w->entries.buf);
  free(w->kids);
  for (size_t i = 0; i < w->ndirs; i++)
    free(w->dirs[i]);
  free(w->dirs);
  for (size_t i = 0; i < w->nframes; i++) {
    agent_ignore_free(w->frames[i]->list);
    free(w->frames[i]);
  }
  free(w->frames);
}

/* The workers' sorted results as one: merged, or the one worker's taken over; past
 * max_files, cut to it and said so. 0 or ENOMEM. */
static int gather(const struct walk *wk, struct worker *w, size_t n, struct walk_result *out)
{
  if (n == 1) {
    *out = w[0].out;
    memset(&w[0].out, 0, sizeof(w[0].out));
  } else {
    struct walk_strings files[AGENT_FS_WALK_THREADS_MAX], errors[AGENT_FS_WALK_THREADS_MAX];
    for (size_t j = 0; j < n; j++) {
      files[j] = w[j].out.files;
      errors[j] = w[j].out.errors;
    }
    if (strings_merge(files, n, &out->files) || strings_merge(errors, n, &out->errors))
      return ENOMEM;
  }
  if (!wk->stopped)
    return 0;
  if (out->files.n > wk->max_files)
    out->files.n = wk->max_files; /* the bytewise-first of those listed */
  char msg[PATH_MAX + 96];
  int len = snprintf(msg, sizeof(msg), "walk '%.*s': stopped after %zu entries (max_files)",
                     (int)wk->root_shown, wk->prefix, wk->max_files);
  if (len < 0 || (size_t)len >= sizeof(msg))
    len = snprintf(msg, sizeof(msg), "walk: stopped after %zu entries (max_files)", wk->max_files);
  return strings_add(&out->errors, msg, (size_t)len) || strings_sort(&out->errors) ? ENOMEM : 0;
}

/* Reads the root on the calling thread, then the rest with as many workers as the tree and
 * the machine make worthwhile; each sorts its own paths, and the caller gathers them. */
int agent_walk_tree(const char *root, const struct walk_opts *opts, struct walk_result *out)
{
  memset(out, 0, sizeof(*out));
  struct walk wk = {.opts = opts};
  wk.max_files = opts->max_files ? opts->max_files : AGENT_FS_WALK_MAX_FILES;
  struct worker w[AGENT_FS_WALK_THREADS_MAX];
  memset(w, 0, sizeof(w));
  for (size_t j = 0; j < AGENT_FS_WALK_THREADS_MAX; j++)
    w[j].wk = &wk;
  size_t running = 1;
  struct dir *top = start(&wk, &w[0], root);
  int err = top ? 0 : ENOMEM;
  /* the root may be a symlink; its fd stays open as the base every directory is opened at,
   * and a duplicate (getdents64 moves the offset they share, openat ignores it) is read */
  wk.root_fd = err ? -1 : open_dir(AT_FDCWD, root, strlen(root), RESOLVE_FOLLOW);
  int fd = wk.root_fd < 0 ? -1 : fcntl(wk.root_fd, F_DUPFD_CLOEXEC, 0);
  if (!err && fd < 0)
    err = errno;
  if (!err) {
    pthread_mutex_init(&wk.lock, NULL);
    pthread_cond_init(&wk.wake, NULL);
    wk.busy = 1; /* the caller holds the root */
    w[0].holding = 1;
    w[0].budget = wk.max_files + 1;
    read_dir(&w[0], top, fd);
    size_t wanted = workers_wanted(opts);
    if (work(&w[0], wanted > 1 ? WALK_SOLO_DIRS : 0)) {
      running = start_helpers(w, wanted);
      work(&w[0], 0);
    }
    if (strings_sort(&w[0].out.files) || strings_sort(&w[0].out.errors))
      w[0].err = ENOMEM;
    for (size_t j = 1; j < running; j++)
      pthread_join(w[j].thread, NULL);
    for (size_t j = 0; j < running; j++)
      err = err ? err : w[j].err;
    err = err ? err : wk.err;
    if (!err)
      err = gather(&wk, w, running, out);
    pthread_cond_destroy(&wk.wake);
    pthread_mutex_destroy(&wk.lock);
  }
  for (size_t j = 0; j < running; j++)
    worker_free(&w[j]);
  if (wk.root_fd >= 0)
    close(wk.root_fd);
  free(wk.prefix);
  free(wk.todo);
  if (err)
    agent_walk_result_free(out);
  return err;
}

/* ==== One directory ======================================================================= */

int agent_walk_list_dir(const char *dir, struct walk_strings *out)
{
  memset(out, 0, sizeof(*out));
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  struct entries e = {0};
  int err = read_entries(fd, &e);
  close(fd);
  for (size_t pos = 0; pos < e.len && !err; pos += entry_at(&e, pos)->reclen) {
    const char *name = entry_at(&e, pos)->name;
    if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
      err = strings_add(out, name, strlen(name));
  }
  free(e.buf);
  if (!err)
    err = strings_sort(out);
  if (err)
    agent_walk_strings_free(out);
  return err;
}
