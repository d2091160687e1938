/* The directory walker (see walk.h). One pass, no recursion: a stack of directories still to
 * read; the entry type the kernel lists instead of a stat per entry; every path built straight
 * into the result buffer, so a listed path costs one copy; one bytewise sort at the end.
 * .gitignore lists are chained from each directory up to the root, so a directory's patterns
 * cover its subtree. */
#include "walk.h"

#include "agent_limits.h"
#include "ignore.h"

#include <dirent.h> /* DT_* */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/syscall.h>

#define NONE SIZE_MAX /* no parent node, no ignore list */

/* ==== Packed strings ====================================================================== */

void walk_strings_free(struct walk_strings *s)
{
  free(s->buf);
  free(s->off);
  memset(s, 0, sizeof(*s));
}

/* Grows *buf (elements of `size` bytes, capacity *cap) to hold `need`. 0 or ENOMEM. */
static int grow(void **buf, size_t *cap, size_t need, size_t size)
{
  if (need <= *cap)
    return 0;
  size_t n = *cap ? *cap : 256;
  while (n < need)
    n *= 2;
  if (n > SIZE_MAX / size)
    return ENOMEM;
  void *p = realloc(*buf, n * size);
  if (!p)
    return ENOMEM;
  *buf = p;
  *cap = n;
  return 0;
}

/* Lists the string that starts at offset `at` of s->buf. 0 or ENOMEM. */
static int strings_list(struct walk_strings *s, size_t at)
{
  if (grow((void **)&s->off, &s->cap_off, s->n + 1, sizeof(*s->off)))
    return ENOMEM;
  s->off[s->n++] = at;
  return 0;
}

/* Appends and lists a copy of str (len bytes). 0 or ENOMEM. */
static int strings_add(struct walk_strings *s, const char *str, size_t len)
{
  if (grow((void **)&s->buf, &s->cap, s->len + len + 1, 1) || strings_list(s, s->len))
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

void walk_result_free(struct walk_result *r)
{
  walk_strings_free(&r->files);
  walk_strings_free(&r->errors);
}

/* ==== Opening directories ================================================================= */

/* Opens the directory at path, which may be longer than PATH_MAX: such a path is opened a run
 * of whole components at a time with openat, so depth never limits the walk. nofollow
 * (O_NOFOLLOW or 0) applies to the last component. Returns an fd, or -1 with errno set. */
static int open_dir(const char *path, size_t len, int nofollow)
{
  const int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  int at = AT_FDCWD;
  char chunk[PATH_MAX];
  while (len >= PATH_MAX) {
    size_t cut = PATH_MAX - 1;
    while (cut > 0 && path[cut] != '/')
      cut--;
    if (cut == 0) { /* one component alone is too long */
      if (at != AT_FDCWD)
        close(at);
      errno = ENAMETOOLONG;
      return -1;
    }
    memcpy(chunk, path, cut);
    chunk[cut] = '\0';
    int next = openat(at, chunk, flags);
    int saved = errno;
    if (at != AT_FDCWD)
      close(at);
    errno = saved;
    if (next < 0)
      return -1;
    at = next;
    path += cut + 1;
    len -= cut + 1;
  }
  if (at == AT_FDCWD)
    return open(path, flags | nofollow);
  int fd = openat(at, len ? path : ".", flags | nofollow); /* "." after a trailing '/' */
  int saved = errno;
  if (at != AT_FDCWD)
    close(at);
  errno = saved;
  return fd;
}

/* ==== Reading directories ================================================================
 * All entries of a directory are read before any is handled, so its .gitignore is known up
 * front (rather than trying to open one in every directory). getdents64 fills one growing
 * buffer reused for every directory: glibc's opendir/readdir would add an fstat, two fcntl
 * calls and a malloc per directory, half the system calls of a walk. Linux only, as agent is
 * (getrandom, /proc). */

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
    if (grow((void **)&e->buf, &e->cap, e->len + ENTRIES_ROOM, 1))
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

/* ==== The walker ========================================================================== */

struct dir_node {
  size_t parent;    /* index of the directory holding it; NONE for the root */
  size_t path, len; /* its path in files.buf: len bytes, then '/' (len 0 for the root) */
  size_t frame;     /* the innermost ignore list in force inside it, or NONE */
  dev_t dev;        /* identity, kept when following symlinks, to stop loops */
  ino_t ino;
};

struct frame {
  struct ignore_list *list;
  size_t parent; /* the list of an enclosing directory, or NONE */
};

struct walker {
  const struct walk_opts *opts;
  struct walk_result *out;
  struct dir_node *nodes; /* every directory met; the array may move as it grows */
  size_t nnodes, cap_nodes;
  size_t *todo; /* directories still to read, as a stack of node indices */
  size_t ntodo, cap_todo;
  struct frame *frames;
  size_t nframes, cap_frames;
  char *path;                /* root prefix + relative path: the one buffer every open uses */
  struct entries entries;    /* the one buffer every directory is read into */
  size_t path_cap, root_len; /* root_len: the prefix with its '/' */
  size_t root_shown;         /* the root as given, for messages about the root itself */
  size_t max_files;
  int err;     /* ENOMEM: stop and fail */
  int stopped; /* max_files reached */
};

/* Records "walk '<root>/<rel><tail>': <reason>" for an entry that could not be read; an empty
 * rel names the root as it was given. */
static void report(struct walker *w, const char *rel, size_t rel_len, const char *tail,
                   const char *reason)
{
  struct walk_strings *e = &w->out->errors;
  int root = (int)(rel_len || *tail ? w->root_len : w->root_shown);
  int n =
      snprintf(NULL, 0, "walk '%.*s%.*s%s': %s", root, w->path, (int)rel_len, rel, tail, reason);
  if (n < 0 || grow((void **)&e->buf, &e->cap, e->len + (size_t)n + 1, 1) ||
      strings_list(e, e->len)) {
    w->err = ENOMEM;
    return;
  }
  snprintf(e->buf + e->len, (size_t)n + 1, "walk '%.*s%.*s%s': %s", root, w->path, (int)rel_len,
           rel, tail, reason);
  e->len += (size_t)n + 1;
}

/* The relative path of directory `node` (its length is nodes[node].len). */
static const char *node_path(const struct walker *w, size_t node)
{
  return w->nodes[node].len ? w->out->files.buf + w->nodes[node].path : "";
}

static int add_frame(struct walker *w, struct ignore_list *list, size_t parent)
{
  if (grow((void **)&w->frames, &w->cap_frames, w->nframes + 1, sizeof(*w->frames))) {
    ignore_free(list);
    return ENOMEM;
  }
  w->frames[w->nframes++] = (struct frame){list, parent};
  return 0;
}

/* Whether the innermost list with an opinion about path excludes it (git's precedence: a
 * deeper .gitignore overrides a shallower one, the extra patterns come last). */
static int is_ignored(const struct walker *w, size_t frame, const char *path, size_t len,
                      int is_dir)
{
  for (; frame != NONE; frame = w->frames[frame].parent) {
    enum ignore_verdict v = ignore_match(w->frames[frame].list, path, len, is_dir);
    if (v != IGNORE_NONE)
      return v == IGNORE_EXCLUDED;
  }
  return 0;
}

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

/* Why a .gitignore could not be used, from the errno of opening or reading it. */
static const char *gitignore_problem(int err)
{
  switch (err) {
  case ELOOP:
    return "a symlink, not followed (as git does)";
  case EINVAL:
    return "not a regular file, not read";
  case EFBIG:
    return "larger than the .gitignore size limit, not read";
  default:
    return strerror(err);
  }
}

/* Loads the .gitignore of directory `node` (open as dfd), if it has one, as the innermost
 * list there. O_NONBLOCK: a FIFO planted as .gitignore must not hang the walk. */
static void load_gitignore(struct walker *w, size_t node, int dfd)
{
  const struct dir_node *d = &w->nodes[node];
  int fd = openat(dfd, ".gitignore", O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  size_t len = 0;
  char *text = fd < 0 ? NULL : slurp(fd, AGENT_FS_IGNORE_FILE_MAX, &len);
  if (!text) {
    if (errno != ENOENT && errno != ENOTDIR)
      report(w, node_path(w, node), d->len, d->len ? "/.gitignore" : ".gitignore",
             gitignore_problem(errno));
    return;
  }
  struct ignore_list *list = ignore_new(node_path(w, node), d->len);
  if (!list || ignore_add_text(list, text, len)) {
    ignore_free(list);
    w->err = ENOMEM;
  } else if (ignore_count(list) == 0) {
    ignore_free(list);
  } else if (add_frame(w, list, d->frame) == 0) {
    w->nodes[node].frame = w->nframes - 1;
  } else {
    w->err = ENOMEM;
  }
  free(text);
}

enum kind { SKIP, FILE_ENTRY, DIR_ENTRY, LINKED_DIR };

/* What a symlink stands for: listed like a file unless it resolves to a directory (walked only
 * with follow) or to a special file. A dangling or looping link is listed, as git lists it. */
static enum kind link_kind(const struct walker *w, int dfd, const char *name, struct stat *st)
{
  if (fstatat(dfd, name, st, 0) != 0)
    return FILE_ENTRY;
  if (S_ISDIR(st->st_mode))
    return w->opts->follow ? LINKED_DIR : SKIP;
  return S_ISREG(st->st_mode) ? FILE_ENTRY : SKIP;
}

/* The kind of a directory entry, from d_type when the file system gives it (no syscall). Only
 * regular files, directories and symlinks are listed: FIFOs, sockets and devices are skipped. */
static enum kind entry_kind(struct walker *w, int dfd, const char *name, unsigned char type,
                            struct stat *st)
{
  switch (type) {
  case DT_REG:
    return FILE_ENTRY;
  case DT_DIR:
    return DIR_ENTRY;
  case DT_LNK:
    return link_kind(w, dfd, name, st);
  case DT_UNKNOWN:
    break;
  default:
    return SKIP;
  }
  if (fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) != 0)
    return SKIP; /* gone since it was listed */
  if (S_ISLNK(st->st_mode))
    return link_kind(w, dfd, name, st);
  return S_ISDIR(st->st_mode) ? DIR_ENTRY : S_ISREG(st->st_mode) ? FILE_ENTRY : SKIP;
}

/* Whether directory (dev, ino) is `node` or one of its ancestors: following a symlink there
 * would loop. */
static int on_path(const struct walker *w, size_t node, dev_t dev, ino_t ino)
{
  for (; node != NONE; node = w->nodes[node].parent)
    if (w->nodes[node].dev == dev && w->nodes[node].ino == ino)
      return 1;
  return 0;
}

/* Lists the path just written at the end of files.buf, unless max_files is reached. Returns 1
 * when listed. */
static int list_path(struct walker *w)
{
  struct walk_strings *f = &w->out->files;
  if (f->n >= w->max_files) {
    char reason[96];
    snprintf(reason, sizeof(reason), "stopped after %zu entries (max_files)", w->max_files);
    report(w, "", 0, "", reason);
    w->stopped = 1;
    return 0;
  }
  if (strings_list(f, f->len)) {
    w->err = ENOMEM;
    return 0;
  }
  return 1;
}

/* Handles entry `name` (of d_type `type`) of directory `node`, open as dfd. */
static void visit(struct walker *w, size_t node, int dfd, const char *name, unsigned char type)
{
  if (name[0] == '.') {
    if (name[1] == '\0' || (name[1] == '.' && name[2] == '\0') || strcmp(name, ".git") == 0 ||
        !w->opts->hidden)
      return;
  }
  struct stat st;
  enum kind kind = entry_kind(w, dfd, name, type, &st);
  if (kind == SKIP)
    return;
  /* Write "<dir>/<name>" at the end of files.buf; it is kept only if listed or walked. */
  struct walk_strings *f = &w->out->files;
  size_t dlen = w->nodes[node].len, nlen = strlen(name);
  if (grow((void **)&f->buf, &f->cap, f->len + dlen + nlen + 3, 1)) {
    w->err = ENOMEM;
    return;
  }
  char *dst = f->buf + f->len;
  if (dlen) {
    memcpy(dst, f->buf + w->nodes[node].path, dlen + 1); /* with its '/' */
    dlen++;
  }
  memcpy(dst + dlen, name, nlen);
  size_t len = dlen + nlen;
  dst[len] = '\0';
  int is_dir = kind != FILE_ENTRY;
  if (w->nodes[node].frame != NONE && is_ignored(w, w->nodes[node].frame, dst, len, is_dir))
    return;
  if (!is_dir) {
    if (list_path(w))
      f->len += len + 1;
    return;
  }
  if (kind == LINKED_DIR && on_path(w, node, st.st_dev, st.st_ino)) {
    report(w, dst, len, "", "symlink to an ancestor directory, not followed (loop)");
    return;
  }
  dst[len] = '/';
  dst[len + 1] = '\0';
  if (grow((void **)&w->nodes, &w->cap_nodes, w->nnodes + 1, sizeof(*w->nodes)) ||
      grow((void **)&w->todo, &w->cap_todo, w->ntodo + 1, sizeof(*w->todo))) {
    w->err = ENOMEM;
    return;
  }
  if (w->opts->dirs && !list_path(w))
    return;
  w->nodes[w->nnodes] = (struct dir_node){node, f->len, len, w->nodes[node].frame, 0, 0};
  w->todo[w->ntodo++] = w->nnodes++;
  f->len += len + 2;
}

/* Whether the entries hold a .gitignore. */
static int has_gitignore(const struct entries *e)
{
  for (size_t pos = 0; pos < e->len; pos += entry_at(e, pos)->reclen)
    if (strcmp(entry_at(e, pos)->name, ".gitignore") == 0)
      return 1;
  return 0;
}

/* Reads directory `node`, open as fd (which it closes). */
static void read_dir(struct walker *w, size_t node, int fd)
{
  if (w->opts->follow) {
    struct stat st;
    if (fstat(fd, &st) == 0) {
      w->nodes[node].dev = st.st_dev;
      w->nodes[node].ino = st.st_ino;
    }
  }
  const struct entries *e = &w->entries;
  int err = read_entries(fd, &w->entries);
  if (err == ENOMEM)
    w->err = ENOMEM;
  else if (err) /* unreadable, or gone or broken mid-read: what was read is still used */
    report(w, node_path(w, node), w->nodes[node].len, "", strerror(err));
  if (w->opts->gitignore && has_gitignore(e))
    load_gitignore(w, node, fd);
  for (size_t pos = 0; pos < e->len && !w->err && !w->stopped; pos += entry_at(e, pos)->reclen)
    visit(w, node, fd, entry_at(e, pos)->name, entry_at(e, pos)->type);
  close(fd);
}

/* Opens directory `node` by its path under the root; -1 (reported) when it cannot be read. */
static int open_node(struct walker *w, size_t node)
{
  const struct dir_node *d = &w->nodes[node];
  if (grow((void **)&w->path, &w->path_cap, w->root_len + d->len + 1, 1)) {
    w->err = ENOMEM;
    return -1;
  }
  memcpy(w->path + w->root_len, node_path(w, node), d->len);
  w->path[w->root_len + d->len] = '\0';
  /* a directory reached through a real entry must still be one: no symlink swapped in */
  int fd = open_dir(w->path, w->root_len + d->len, w->opts->follow ? 0 : O_NOFOLLOW);
  if (fd < 0)
    report(w, node_path(w, node), d->len, "", strerror(errno));
  return fd;
}

/* Sets up the root prefix ("<root>/") and node 0, with the extra patterns as the outermost
 * ignore list. 0 or ENOMEM. */
static int start(struct walker *w, const char *root)
{
  size_t len = strlen(root);
  int slash = len > 0 && root[len - 1] != '/';
  if (grow((void **)&w->path, &w->path_cap, len + 2, 1) ||
      grow((void **)&w->nodes, &w->cap_nodes, 1, sizeof(*w->nodes)) ||
      grow((void **)&w->todo, &w->cap_todo, 1, sizeof(*w->todo)))
    return ENOMEM;
  memcpy(w->path, root, len);
  w->path[len] = '/';
  w->path[len + slash] = '\0';
  w->root_len = len + (size_t)slash;
  w->root_shown = len;
  w->nodes[0] = (struct dir_node){NONE, 0, 0, NONE, 0, 0};
  w->nnodes = 1;
  if (w->opts->nignore == 0)
    return 0;
  struct ignore_list *list = ignore_new("", 0);
  if (!list)
    return ENOMEM;
  for (size_t i = 0; i < w->opts->nignore; i++) {
    if (ignore_add_line(list, w->opts->ignore[i].text, w->opts->ignore[i].len)) {
      ignore_free(list);
      return ENOMEM;
    }
  }
  if (add_frame(w, list, NONE))
    return ENOMEM;
  w->nodes[0].frame = 0;
  return 0;
}

static void walker_free(struct walker *w)
{
  for (size_t i = 0; i < w->nframes; i++)
    ignore_free(w->frames[i].list);
  free(w->frames);
  free(w->nodes);
  free(w->todo);
  free(w->path);
  free(w->entries.buf);
}

int walk_tree(const char *root, const struct walk_opts *opts, struct walk_result *out)
{
  memset(out, 0, sizeof(*out));
  struct walker w = {.opts = opts, .out = out};
  w.max_files = opts->max_files ? opts->max_files : AGENT_FS_WALK_MAX_FILES;
  int err = start(&w, root);
  int fd = err ? -1 : open_dir(root, strlen(root), 0); /* the root may be a symlink */
  if (!err && fd < 0)
    err = errno;
  if (!err) {
    read_dir(&w, 0, fd);
    while (w.ntodo > 0 && !w.err && !w.stopped) {
      size_t node = w.todo[--w.ntodo];
      fd = open_node(&w, node);
      if (fd >= 0)
        read_dir(&w, node, fd);
    }
    err = w.err;
  }
  if (!err)
    err = strings_sort(&out->files) || strings_sort(&out->errors) ? ENOMEM : 0;
  walker_free(&w);
  if (err)
    walk_result_free(out);
  return err;
}

/* ==== One directory ======================================================================= */

int walk_list_dir(const char *dir, struct walk_strings *out)
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
    walk_strings_free(out);
  return err;
}
