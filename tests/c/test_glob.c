/* Tests for src/glob.c: a table of match / no-match cases (Cursor-style globs, braces,
 * classes, escapes, `**` at start, middle and end), malformed patterns and their messages,
 * a differential test against fnmatch(3), the index against the naive scan, and patterns
 * that would take exponential time in a backtracking matcher. */
#include "agent_limits.h"
#include "glob.h"
#include "test.h"
#include "util.h"

#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>

struct match_case {
  const char *pattern, *path;
  int want;
};

static const struct match_case match_cases[] = {
    /* a pattern without '/' matches the basename at any depth */
    {"*.ts", "a.ts", 1},
    {"*.ts", "src/a.ts", 1},
    {"*.ts", "src/deep/er/a.ts", 1},
    {"*.ts", "a.tsx", 0},
    {"*.ts", "src/a.ts/b", 0},
    {"*.ts", ".ts", 1}, /* `*` matches dot files */
    {"*", ".env", 1},
    {"Makefile", "Makefile", 1},
    {"Makefile", "sub/dir/Makefile", 1},
    {"Makefile", "sub/Makefile.am", 0},
    {"Makefile", "xMakefile", 0},
    {"*.TS", "a.ts", 0},    /* case-sensitive */
    {"**.ts", "x/a.ts", 1}, /* `**` inside a segment is `*` */
    {"a**b", "axxb", 1},
    {"a**b", "ax/xb", 0},
    /* Cursor rule globs as teams write them */
    {"**/*", "README.md", 1},
    {"**/*", "a/b/c.py", 1},
    {"**/*.py", "tool.py", 1},
    {"**/*.py", "pkg/mod/tool.py", 1},
    {"**/*.py", "pkg/mod/tool.pyc", 0},
    {"**/*.tsx", "app/page.tsx", 1},
    {"src/components/**/*.tsx", "src/components/ui/Button.tsx", 1},
    {"src/components/**/*.tsx", "src/components/Button.tsx", 1},
    {"src/components/**/*.tsx", "src/pages/Button.tsx", 0},
    {"**/.github/**", ".github/workflows/ci.yml", 1},
    {"**/Dockerfile", "services/api/Dockerfile", 1},
    {"**/Dockerfile", "Dockerfile", 1},
    {"**/Dockerfile", "Dockerfile.dev", 0},
    /* anchoring */
    {"/*.ts", "a.ts", 1},
    {"/*.ts", "src/a.ts", 0},
    {"./*.ts", "a.ts", 1},
    {"./*.ts", "src/a.ts", 0},
    {"./*.ts", "./a.ts", 1}, /* a path's "./" is ignored too */
    {"src/*.ts", "./src/a.ts", 1},
    {"src/*.ts", "src/a.ts", 1},
    {"src/*.ts", "src/x/a.ts", 0},
    {"src/*.ts", "lib/src/a.ts", 0},
    {"src/a.ts", "src/a.ts", 1},
    {"src/a.ts", "src/a.tsx", 0},
    {"src//*.ts", "src/a.ts", 1},
    {"src/./*.ts", "src/a.ts", 1},
    /* `**` at the start, in the middle, at the end */
    {"**/*.ts", "a.ts", 1},
    {"**/*.ts", "x/y/a.ts", 1},
    {"**/*.ts", "a.js", 0},
    {"src/**/*.ts", "src/a.ts", 1},
    {"src/**/*.ts", "src/x/y/a.ts", 1},
    {"src/**/*.ts", "lib/a.ts", 0},
    {"src/**/*.ts", "srcx/a.ts", 0},
    {"a/**/b/**/c", "a/b/c", 1},
    {"a/**/b/**/c", "a/x/b/y/z/c", 1},
    {"a/**/b/**/c", "a/b/x", 0},
    {"a/**/**/b", "a/b", 1},
    {"src/**", "src/a", 1},
    {"src/**", "src/a/b/c", 1},
    {"src/**", "src", 0}, /* everything below src/, not src itself */
    {"src/**", "srcx/a", 0},
    {"src/**", "lib/src/a", 0},
    {"**/test/**", "test/a", 1},
    {"**/test/**", "a/test/b/c", 1},
    {"**/test/**", "a/test", 0},
    {"**/test/**", "a/tests/b", 0},
    {"**", "a", 1},
    {"**", "a/b/c", 1},
    /* a trailing slash means everything below */
    {"build/", "build/x.o", 1},
    {"build/", "a/build/x.o", 1},
    {"build/", "build", 0},
    {"build/", "builds/x", 0},
    {"src/gen/", "src/gen/a.c", 1},
    {"src/gen/", "x/src/gen/a.c", 0},
    /* `?` and classes: one character, never '/' */
    {"?.c", "a.c", 1},
    {"?.c", "ab.c", 0},
    {"?.c", "\xc3\xa9.c", 1}, /* é is one character */
    {"??.c", "\xc3\xa9.c", 0},
    {"?", "\xe6\x97\xa5", 1}, /* 日 */
    {"a?b", "a/b", 0},
    {"a*b", "a/b", 0},
    {"[abc].ts", "a.ts", 1},
    {"[abc].ts", "d.ts", 0},
    {"[a-c]x", "bx", 1},
    {"[a-c]x", "dx", 0},
    {"[!a-c]x", "dx", 1},
    {"[!a-c]x", "bx", 0},
    {"[^a-c]x", "dx", 1},
    {"[]]", "]", 1},
    {"[!]]", "a", 1},
    {"[!]]", "]", 0},
    {"[a-]", "-", 1},
    {"[a-]", "b", 0},
    {"[\\]]", "]", 1},
    {"[[:digit:]]*.log", "1a.log", 1},
    {"[[:digit:]]*.log", "a1.log", 0},
    {"[[:upper:][:digit:]]", "A", 1},
    {"[[:upper:][:digit:]]", "5", 1},
    {"[[:upper:][:digit:]]", "a", 0},
    {"[\xc3\xa9-\xc3\xab]", "\xc3\xaa", 1}, /* [é-ë] matches ê */
    {"[\xc3\xa9-\xc3\xab]", "e", 0},
    {"[!a]", "\xc3\xa9", 1}, /* a negated class takes a whole character */
    {"x[/]y", "x/y", 0},
    /* braces */
    {"*.{ts,tsx}", "a.ts", 1},
    {"*.{ts,tsx}", "a.tsx", 1},
    {"*.{ts,tsx}", "a.js", 0},
    {"{src,lib}/**/*.c", "src/a.c", 1},
    {"{src,lib}/**/*.c", "lib/x/b.c", 1},
    {"{src,lib}/**/*.c", "test/a.c", 0},
    {"a{b,c{d,e}}f", "abf", 1},
    {"a{b,c{d,e}}f", "acdf", 1},
    {"a{b,c{d,e}}f", "acef", 1},
    {"a{b,c{d,e}}f", "acf", 0},
    {"{a}", "a", 1},
    {"{a}", "{a}", 0},
    {"a{,.min}.js", "a.js", 1},
    {"a{,.min}.js", "a.min.js", 1},
    {"{*.md,docs/**}", "x/README.md", 1}, /* each alternative decides basename mode */
    {"{*.md,docs/**}", "docs/a/b", 1},
    {"{*.md,docs/**}", "x/docs/a", 0},
    {"\\{a,b\\}", "{a,b}", 1},
    {"[{]a", "{a", 1},
    /* escapes */
    {"\\*.ts", "*.ts", 1},
    {"\\*.ts", "a.ts", 0},
    {"a\\?", "a?", 1},
    {"a\\?", "ab", 0},
    {"\\[x]", "[x]", 1},
    {"\\[x]", "x", 0},
    /* the star takes the right amount */
    {"*a*a*b", "aaab", 1},
    {"*a*a*b", "ab", 0},
    {"a*", "a", 1},
    {"*a", "a", 1},
    {"a*b*c", "abbbc", 1},
    {"a*b*c", "acb", 0},
};

static void test_match_table(void)
{
  for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
    const struct match_case *c = &match_cases[i];
    struct agent_glob *g = NULL;
    char err[128];
    int rc = agent_glob_compile(c->pattern, strlen(c->pattern), &g, err, sizeof(err));
    CHECK_INT(rc, AGENT_GLOB_OK);
    if (rc != AGENT_GLOB_OK) {
      fprintf(stderr, "  pattern '%s': %s\n", c->pattern, err);
      continue;
    }
    int got = agent_glob_match(g, c->path, strlen(c->path));
    if (got != c->want)
      fprintf(stderr, "  '%s' vs '%s': want %d\n", c->pattern, c->path, c->want);
    CHECK_INT(got, c->want);
    agent_glob_free(g);
  }
}

struct error_case {
  const char *pattern, *message;
};

static const struct error_case error_cases[] = {
    {"", "empty pattern"},
    {"/", "empty pattern"},
    {"./", "empty pattern"},
    {"[abc", "unclosed '['"},
    {"a[\\", "unclosed '['"},
    {"a{b", "unclosed '{'"},
    {"{a,{b}", "unclosed '{'"},
    {"a}b", "unmatched '}'"},
    {"abc\\", "trailing backslash"},
    {"[z-a]", "reversed range in '[...]'"},
    {"[[:nope:]]", "unknown character class '[:nope:]'"},
    {"{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}",
     "braces expand to more than 256 alternatives"},
};

static void test_errors(void)
{
  for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
    const struct error_case *c = &error_cases[i];
    struct agent_glob *g = (struct agent_glob *)&g; /* must be reset to NULL */
    char err[128];
    CHECK_INT(agent_glob_compile(c->pattern, strlen(c->pattern), &g, err, sizeof(err)),
              AGENT_GLOB_EPATTERN);
    CHECK(g == NULL);
    CHECK_STR(err, c->message);
  }
  /* a long pattern is refused before any work */
  char *long_pat = malloc(AGENT_GLOB_PATTERN_MAX + 1);
  memset(long_pat, 'a', AGENT_GLOB_PATTERN_MAX + 1);
  struct agent_glob *g = NULL;
  char err[128];
  CHECK_INT(agent_glob_compile(long_pat, AGENT_GLOB_PATTERN_MAX + 1, &g, err, sizeof(err)),
            AGENT_GLOB_EPATTERN);
  CHECK_STR(err, "pattern longer than 4096 bytes");
  CHECK_INT(agent_glob_compile(long_pat, AGENT_GLOB_PATTERN_MAX, &g, err, sizeof(err)),
            AGENT_GLOB_OK);
  agent_glob_free(g);
  free(long_pat);
  /* a tiny error buffer truncates but stays a string */
  char small[6];
  CHECK_INT(agent_glob_compile("[", 1, &g, small, sizeof(small)), AGENT_GLOB_EPATTERN);
  CHECK_STR(small, "unclo");
}

static struct agent_glob *compile_ok(const char *pattern)
{
  struct agent_glob *g = NULL;
  char err[128];
  if (agent_glob_compile(pattern, strlen(pattern), &g, err, sizeof(err)) != AGENT_GLOB_OK)
    fprintf(stderr, "  '%s': %s\n", pattern, err);
  return g;
}

/* The cap counts alternatives after expansion, nested groups included, and single-choice
 * groups cost nothing however deep. */
static void test_brace_cap(void)
{
  struct agent_glob *g = compile_ok("{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}");
  CHECK(g != NULL);
  if (g) {
    CHECK_INT(agent_glob_alternatives(g), 256);
    CHECK(agent_glob_match(g, "abababab", 8));
    CHECK(!agent_glob_match(g, "abababac", 8));
  }
  agent_glob_free(g);

  char pat[2 * AGENT_GLOB_BRACE_MAX + 8];
  size_t n = 0;
  pat[n++] = '{';
  for (int i = 0; i <= AGENT_GLOB_BRACE_MAX; i++) { /* 257 alternatives in one group */
    pat[n++] = 'a';
    pat[n++] = ',';
  }
  pat[n - 1] = '}';
  char err[128];
  CHECK_INT(agent_glob_compile(pat, n, &g, err, sizeof(err)), AGENT_GLOB_EPATTERN);
  CHECK_STR(err, "braces expand to more than 256 alternatives");

  CHECK_INT(agent_glob_compile("{a,{b,{c,{d,e}}}}{x,y}", 22, &g, err, sizeof(err)), AGENT_GLOB_OK);
  CHECK_INT(agent_glob_alternatives(g), 10);
  agent_glob_free(g);

  char deep[4001];
  for (int i = 0; i < 2000; i++) {
    deep[i] = '{';
    deep[2000 + i] = '}';
  }
  CHECK_INT(agent_glob_compile(deep, 4000, &g, err, sizeof(err)), AGENT_GLOB_EPATTERN);
  CHECK_STR(err, "empty pattern"); /* {{...}} is the empty string */
  deep[1999] = 'z';                /* 1999 braces around z: {{...{z}...}} */
  CHECK_INT(agent_glob_compile(deep, 3999, &g, err, sizeof(err)), AGENT_GLOB_OK);
  CHECK_INT(agent_glob_alternatives(g), 1);
  CHECK(agent_glob_match(g, "x/z", 3));
  agent_glob_free(g);
}

/* The caps can be set per call: lower (a 2-way brace over a cap of 1) or higher (300 ways
 * over the default 256, which needs the group's commas on the heap). */
static void test_limits_per_call(void)
{
  struct agent_glob *g = NULL;
  char err[128];
  struct agent_glob_limits one = {0, 1};
  CHECK_INT(agent_glob_compile_with("{a,b}", 5, &one, &g, err, sizeof(err)), AGENT_GLOB_EPATTERN);
  CHECK_STR(err, "braces expand to more than 1 alternatives");
  struct agent_glob_limits short_pat = {4, 0};
  CHECK_INT(agent_glob_compile_with("*.lua", 5, &short_pat, &g, err, sizeof(err)),
            AGENT_GLOB_EPATTERN);
  CHECK_STR(err, "pattern longer than 4 bytes");
  CHECK_INT(agent_glob_compile_with("*.md", 4, &short_pat, &g, err, sizeof(err)), AGENT_GLOB_OK);
  agent_glob_free(g);

  char pat[2048];
  size_t n = 0;
  pat[n++] = '{';
  for (int i = 0; i < 300; i++)
    n += (size_t)snprintf(pat + n, sizeof(pat) - n, "%d,", i);
  pat[n - 1] = '}';
  CHECK_INT(agent_glob_compile(pat, n, &g, err, sizeof(err)), AGENT_GLOB_EPATTERN);
  struct agent_glob_limits wide = {0, 300};
  CHECK_INT(agent_glob_compile_with(pat, n, &wide, &g, err, sizeof(err)), AGENT_GLOB_OK);
  CHECK_INT(agent_glob_alternatives(g), 300);
  CHECK(agent_glob_match(g, "a/299", 5));
  CHECK(!agent_glob_match(g, "a/300", 5));
  agent_glob_free(g);
}

/* Patterns that make a backtracking matcher exponential: each must fail quickly on long
 * inputs. The bound is loose (valgrind runs these too); exponential would be hours. */
static void test_pathological(void)
{
  static char path[8192];
  memset(path, 'a', 4000);
  path[4000] = '\0';
  static char deep[8192];
  size_t n = 0;
  for (int i = 0; i < 2000; i++) {
    deep[n++] = 'a';
    deep[n++] = '/';
  }
  deep[n - 1] = '\0';
  const char *patterns[] = {
      "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
      "*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?b",
      "**/a/**/a/**/a/**/a/**/a/**/a/**/b",
      "**/*a*a*a*a/**/*a*a*a*a/**/b",
  };
  double t0 = agent_monotonic_ms();
  for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
    struct agent_glob *g = compile_ok(patterns[i]);
    CHECK(g != NULL);
    if (!g)
      continue;
    CHECK(!agent_glob_match(g, path, strlen(path)));
    CHECK(!agent_glob_match(g, deep, strlen(deep)));
    agent_glob_free(g);
  }
  double ms = agent_monotonic_ms() - t0;
  if (ms > 5000)
    fprintf(stderr, "  pathological patterns took %.0f ms\n", ms);
  CHECK(ms < 5000);
}

/* ---- differential test against fnmatch(3) -----------------------------------------------
 * On the common ground (ASCII, no braces, no whole-segment `**`, no leading/trailing/double
 * slash, no "." segment) our semantics are fnmatch's with FNM_PATHNAME, applied to the
 * basename when the pattern has no '/'. Random patterns and paths over a small alphabet
 * exercise stars, classes and escapes far beyond the table. */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static unsigned rnd(unsigned n)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (unsigned)(rng_state % n);
}

static size_t random_pattern(char *out)
{
  size_t n = 0, atoms = 1 + rnd(8);
  for (size_t i = 0; i < atoms; i++) {
    switch (rnd(10)) {
    case 0:
    case 1:
      out[n++] = '*';
      break;
    case 2:
      out[n++] = '?';
      break;
    case 3:
      out[n++] = '/';
      break;
    case 4: {
      /* no ']' member: a class that starts with one runs on to the next ']', which can
       * swallow a '/' or form glibc's "[." collating symbols, both off the common ground */
      static const char members[] = "ab.-^!";
      out[n++] = '[';
      if (rnd(3) == 0)
        out[n++] = "!^"[rnd(2)];
      out[n++] = members[rnd(4)]; /* not '^' or '!', which would negate */
      for (unsigned k = rnd(3); k > 0; k--)
        out[n++] = members[rnd(sizeof(members) - 1)];
      out[n++] = ']';
      break;
    }
    case 5:
      out[n++] = '\\';
      out[n++] = "*?[ab"[rnd(5)];
      break;
    default:
      out[n++] = "ab."[rnd(3)];
      break;
    }
  }
  out[n] = '\0';
  return n;
}

static int on_common_ground(const char *p)
{
  size_t n = strlen(p);
  if (n == 0 || p[0] == '/' || p[n - 1] == '/' || strstr(p, "//"))
    return 0;
  for (const char *s = p; s; s = strchr(s, '/')) { /* each segment */
    if (*s == '/')
      s++;
    size_t len = strcspn(s, "/");
    if ((len == 2 && s[0] == '*' && s[1] == '*') || (len == 1 && s[0] == '.'))
      return 0;
    if (!s[len])
      break;
  }
  return 1;
}

static void test_against_fnmatch(void)
{
  char pat[64], path[32];
  long compared = 0, mismatches = 0;
  for (int iter = 0; iter < 300000; iter++) {
    random_pattern(pat);
    struct agent_glob *g = NULL;
    char err[128];
    if (!on_common_ground(pat) || agent_glob_compile(pat, strlen(pat), &g, err, sizeof(err)))
      continue;
    for (int k = 0; k < 8; k++) {
      size_t len = rnd(7);
      for (size_t i = 0; i < len; i++)
        path[i] = "ab./]-"[rnd(6)];
      path[len] = '\0';
      if (len >= 2 && path[0] == '.' && path[1] == '/')
        continue;
      const char *subject = path;
      if (!strchr(pat, '/')) { /* basename mode */
        const char *slash = strrchr(path, '/');
        subject = slash ? slash + 1 : path;
      }
      int want = fnmatch(pat, subject, FNM_PATHNAME) == 0;
      int got = agent_glob_match(g, path, len);
      compared++;
      if (got != want && mismatches++ < 10)
        fprintf(stderr, "  fnmatch differs: '%s' vs '%s': fnmatch %d, glob %d\n", pat, path, want,
                got);
    }
    agent_glob_free(g);
  }
  printf("fnmatch differential: %ld comparisons\n", compared);
  CHECK(compared > 100000);
  CHECK_INT(mismatches, 0);
}

/* ---- the index gives the naive scan's answer --------------------------------------------- */

/* Each pattern against the index of paths[0..n): the index's answer is the naive scan's, and
 * that is the bytewise-smallest matching path (a leading "./" not counted). */
static void check_index(struct agent_glob_index *ix, const char *const *paths, size_t n,
                        const char *const *patterns, size_t npatterns)
{
  for (size_t i = 0; i < npatterns; i++) {
    struct agent_glob *g = compile_ok(patterns[i]);
    if (!g)
      continue;
    long fast = agent_glob_index_first(ix, g), slow = agent_glob_index_scan(ix, g);
    if (fast != slow)
      fprintf(stderr, "  index differs for '%s': %ld vs %ld\n", patterns[i], fast, slow);
    CHECK_INT(fast, slow);
    const char *best = NULL;
    for (size_t k = 0; k < n; k++) {
      const char *p = paths[k];
      const char *q = strncmp(p, "./", 2) == 0 ? p + 2 : p;
      if (agent_glob_match(g, p, strlen(p)) && (!best || strcmp(q, best) < 0))
        best = q;
    }
    if (slow < 0) {
      CHECK(best == NULL);
    } else {
      const char *got = paths[slow];
      CHECK_STR(strncmp(got, "./", 2) == 0 ? got + 2 : got, best);
    }
    agent_glob_free(g);
  }
}

static void test_index_agrees(void)
{
  static const char *dirs[] = {"src",    "lib",   "test",    "docs", ".github",
                               "src/ui", "a/b/c", "src/src", "x"};
  static const char *names[] = {"main", "util", "Makefile", "README", "index.test", ".env", "x"};
  static const char *exts[] = {"", ".c", ".h", ".ts", ".tsx", ".md", ".py", ".json"};
  enum { NPATHS = 3000 };
  static char storage[NPATHS][64];
  static const char *paths[NPATHS];
  struct agent_glob_index *ix = agent_glob_index_new(16); /* grows */
  CHECK(ix != NULL);
  if (!ix)
    return;
  for (int i = 0; i < NPATHS; i++) {
    int n = snprintf(storage[i], sizeof(storage[i]), "%s%s/%s%d%s", rnd(4) ? "" : "./",
                     dirs[rnd(9)], names[rnd(7)], (int)rnd(3), exts[rnd(8)]);
    CHECK_INT(agent_glob_index_add(ix, storage[i], (size_t)n), AGENT_GLOB_OK);
    paths[i] = storage[i];
  }
  CHECK_INT(agent_glob_index_build(ix), AGENT_GLOB_OK);
  static const char *const patterns[] = {
      "*.c",
      "**/*.ts",
      "src/**",
      "src/*.h",
      "**/Makefile*",
      "Makefile1",
      "README2.md",
      "*.{ts,tsx}",
      "{src,lib}/**/*.c",
      "src/ui/util?.tsx",
      "**/.github/**",
      "test/index.test*",
      "a/b/**",
      "a/**/c/*.py",
      "*.nomatch",
      "docs/[!R]*",
      "**/*",
      "lib/",
      "x0",
      ".env1.json",
      "*.test1.ts",
      "**/*.test?.ts",
      "/src/*.c",
      "./lib/*",
      "src/**/main?.{c,h}",
      "**/src/**",
      "**/src/*.h",
      "src/src/**",
      "x/**/util1",
      "**/b/**/*.md",
      "**/nodir/**",
      /* a basename with a literal prefix and a wildcard: the basename-head tables */
      "**/main1.*",
      "**/util*",
      "**/index.test*.ts",
      "README*",
      "src/**/x?.*",
      "**/test/x*",
      "{src,lib}/**/util?.*",
      "**/Makefile?",
      "**/.env*",
      "x*",
      "**/x2.*",
      "**/nomatch*",
      "*.c",
      /* a literal prefix and an extension or folder bucket: the bucket cut to the prefix */
      "src/**/*.h",
      "docs/**/*.md",
      "src/**/ui/*.tsx",
      "a/**/c/*",
      "src/src/**/*.json",
      "x/**/*.py",
      "test/**/src/**",
  };
  check_index(ix, paths, NPATHS, patterns, sizeof(patterns) / sizeof(patterns[0]));
  agent_glob_index_free(ix);

  /* an empty index matches nothing */
  ix = agent_glob_index_new(0);
  CHECK_INT(agent_glob_index_build(ix), AGENT_GLOB_OK);
  struct agent_glob *g = compile_ok("**");
  CHECK_INT(agent_glob_index_first(ix, g), -1);
  agent_glob_free(g);
  agent_glob_index_free(ix);
}

/* Basenames that share long prefixes (past the longest head of 16 bytes), end inside
 * another's prefix, repeat, hold bytes over 0x7f, or are empty (a directory's trailing '/'),
 * queried by globs whose basename starts with a literal. */
static void test_index_basename_prefixes(void)
{
  static const char *dirs[] = {"a", "b/c", "./d", "e/f/g", "h"};
  static const char *heads[] = {"file00",
                                "file0",
                                "file",
                                "fil",
                                "a_long_shared_name_prefix_",
                                "a_long_shared_name_prefix_x",
                                "caf\xc3\xa9",
                                "test_",
                                ""};
  static const char *tails[] = {"", "1", "12.go", "2.py", ".c", "x", "\xff"};
  enum { NPATHS = 4000 };
  static char storage[NPATHS][96];
  static const char *paths[NPATHS];
  struct agent_glob_index *ix = agent_glob_index_new(NPATHS);
  CHECK(ix != NULL);
  if (!ix)
    return;
  for (int i = 0; i < NPATHS; i++) {
    int n = snprintf(storage[i], sizeof(storage[i]), "%s/%s%s%s", dirs[rnd(5)], heads[rnd(9)],
                     tails[rnd(7)], rnd(50) ? "" : "/");
    CHECK_INT(agent_glob_index_add(ix, storage[i], (size_t)n), AGENT_GLOB_OK);
    paths[i] = storage[i];
  }
  CHECK_INT(agent_glob_index_build(ix), AGENT_GLOB_OK);
  static const char *const patterns[] = {
      "**/file00*",
      "**/file0*.go",
      "**/file*",
      "**/fil?*",
      "**/file1*",
      "**/a_long_shared_name_prefix_x*",
      "**/a_long_shared_name_prefix_*1",
      "**/caf\xc3\xa9*",
      "**/test_*.py",
      "**/test_*",
      "d/file*",
      "**/f*",
      "e/**/file00?2.*",
      "**/file0[0-9]*",
      "**/zzz*",
      "**/file00{1,x}*",
      "**/\xff*",
      "{a,h}/fil*.c",
  };
  check_index(ix, paths, NPATHS, patterns, sizeof(patterns) / sizeof(patterns[0]));
  agent_glob_index_free(ix);
}

/* Basenames that agree on their first 16 bytes (the longest head), differ only past them,
 * or only by trailing NUL bytes (a hash that padded a short key with NULs would mix them up),
 * queried through the basename-head tables and checked against the naive scan. */
static void test_index_basename_heads(void)
{
  static const char *const heads[] = {"ab", "abcdefghijklmnop", "abcdefghijklmno", "abcdefgh"};
#define BYTES(s)                                                                                   \
  {                                                                                                \
    s, sizeof(s) - 1                                                                               \
  } /* a literal with its NUL bytes */
  static const struct {
    const char *s;
    size_t len;
  } tails[] = {BYTES(""),    BYTES("q"),    BYTES("\0"),   BYTES("\0\0"),
               BYTES("\0x"), BYTES("qr.c"), BYTES("\xff"), BYTES(".c")},
    patterns[] = {BYTES("**/ab*"),
                  BYTES("**/abcdefghijklmnop*"),
                  BYTES("**/abcdefghijklmno\0*"),
                  BYTES("**/abcdefghijklmnopq*"),
                  BYTES("**/ab\0*"),
                  BYTES("**/abcdefgh*.c"),
                  BYTES("**/abcdefghijklmno?*"),
                  BYTES("e/**/ab\0x*")};
#undef BYTES
  enum { NPATHS = 2000 };
  static char storage[NPATHS][48];
  /* a few paths, a few hundred, and enough for runs of equal heads in every table */
  static const int sizes[] = {24, 300, NPATHS};
  for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
    int npaths = sizes[z];
    struct agent_glob_index *ix = agent_glob_index_new((size_t)npaths);
    CHECK(ix != NULL);
    if (!ix)
      return;
    for (int i = 0; i < npaths; i++) {
      const char *dir = rnd(2) ? "d/" : "e/f/";
      unsigned h = rnd(4), t = rnd(8);
      size_t n = strlen(dir), hl = strlen(heads[h]);
      memcpy(storage[i], dir, n);
      memcpy(storage[i] + n, heads[h], hl);
      memcpy(storage[i] + n + hl, tails[t].s, tails[t].len);
      CHECK_INT(agent_glob_index_add(ix, storage[i], n + hl + tails[t].len), AGENT_GLOB_OK);
    }
    CHECK_INT(agent_glob_index_build(ix), AGENT_GLOB_OK);
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
      struct agent_glob *g = NULL;
      char err[128];
      CHECK_INT(agent_glob_compile(patterns[i].s, patterns[i].len, &g, err, sizeof(err)),
                AGENT_GLOB_OK);
      if (!g)
        continue;
      long fast = agent_glob_index_first(ix, g), slow = agent_glob_index_scan(ix, g);
      if (fast != slow)
        fprintf(stderr, "  index differs for pattern %zu (%d paths): %ld vs %ld\n", i, npaths, fast,
                slow);
      CHECK_INT(fast, slow);
      agent_glob_free(g);
    }
    agent_glob_index_free(ix);
  }
}

/* Adds paths[0..n) to a new index and builds it; NULL (a failed check) on any error. */
static struct agent_glob_index *index_of(const char *const *paths, size_t n)
{
  struct agent_glob_index *ix = agent_glob_index_new(n);
  CHECK(ix != NULL);
  for (size_t i = 0; ix && i < n; i++)
    CHECK_INT(agent_glob_index_add(ix, paths[i], strlen(paths[i])), AGENT_GLOB_OK);
  if (ix)
    CHECK_INT(agent_glob_index_build(ix), AGENT_GLOB_OK);
  return ix;
}

/* check_index on a fresh index of paths[0..n). */
static void check_index_of(const char *const *paths, size_t n, const char *const *patterns,
                           size_t npatterns)
{
  struct agent_glob_index *ix = index_of(paths, n);
  if (ix)
    check_index(ix, paths, n, patterns, npatterns);
  agent_glob_index_free(ix);
}

/* Paths added in shuffled order, some twice, some with "./": the index sorts them, answers as
 * the scan does, and agent_glob_index_path gives back each path exactly as added, from its
 * own copy (the caller's buffers are overwritten after adding). */
static void test_index_unsorted(void)
{
  static const char *dirs[] = {"src", "src/ui", "lib", "./lib", "docs", "a/b", "./"};
  static const char *names[] = {"main.c", "util.h", "README.md", "index.ts", "x", "x.", ".env"};
  enum { NPATHS = 1500 };
  static char storage[NPATHS][48], kept[NPATHS][48];
  static const char *paths[NPATHS];
  struct agent_glob_index *ix = agent_glob_index_new(8); /* grows */
  CHECK(ix != NULL);
  if (!ix)
    return;
  for (int i = 0; i < NPATHS; i++) {
    const char *dir = dirs[rnd(7)];
    int n = snprintf(storage[i], sizeof(storage[i]), "%s%s%s%u", dir,
                     strcmp(dir, "./") == 0 ? "" : "/", names[rnd(7)], rnd(40));
    memcpy(kept[i], storage[i], (size_t)n + 1);
    paths[i] = kept[i];
    CHECK_INT(agent_glob_index_add(ix, storage[i], (size_t)n), AGENT_GLOB_OK);
    memset(storage[i], '#', (size_t)n); /* the index must not read these again */
  }
  CHECK_INT(agent_glob_index_build(ix), AGENT_GLOB_OK);
  static const char *const patterns[] = {
      "*.c",     "**/*.h", "src/**",   "lib/*.md",       "**/ui/*",   "a/b/index.ts1*",
      "x1",      "**/x.3", "*.",       "**/.env1*",      "README.md", "docs/*.{c,h}*",
      "**/b/**", "/x2",    "./lib/**", "src/ui/main.c3", "*.zz",      "**/x.[0-9]",
  };
  check_index(ix, paths, NPATHS, patterns, sizeof(patterns) / sizeof(patterns[0]));
  size_t len = 0;
  int same = 1;
  for (long i = 0; i < NPATHS; i++) {
    const char *p = agent_glob_index_path(ix, i, &len);
    same &= p != NULL && len == strlen(kept[i]) && memcmp(p, kept[i], len) == 0;
  }
  CHECK(same);
  CHECK(agent_glob_index_path(ix, -1, &len) == NULL);
  CHECK(agent_glob_index_path(ix, NPATHS, &len) == NULL);
  agent_glob_index_free(ix);
}

/* Sorted paths whose folders come back after a subfolder's files (a/b/c.txt, a/b/c/d.txt,
 * a/b/e.txt: a/b is two runs), name a folder twice in one chain (x/x/x/f), hold empty
 * segments or none: the directory table files each path once per name, in order. */
static void test_index_directory_runs(void)
{
  static const char *const paths[] = {
      "a/b/c.txt",  "a/b/c/d.txt", "a/b/c/e/f.md", "a/b/e.txt", "a/b.c/g.txt",
      "a//b/h.txt", "b/a/x.txt",   "b/b/b/y.md",   "c.txt",     "c/c.txt",
      "x/x/x/f",    "x/x/y/x",     "x/y/x/z.txt",  "y/x",       "z",
  };
  size_t n = sizeof(paths) / sizeof(paths[0]);
  static const char *const patterns[] = {
      "**/b/*.txt",   "**/b/**",  "**/c/*",  "**/c/**/*.md", "a/**/b/*",  "**/x/**",
      "**/x/*",       "**/x/x/*", "**/y/**", "x/**/x",       "**/e/*.md", "b/**/b/*",
      "**/b/c/*.txt", "**/b.c/*", "*/x/*",   "**/z/*",
  };
  check_index_of(paths, n, patterns, sizeof(patterns) / sizeof(patterns[0]));
}

/* Neighbours that share a key form one run in a table: long runs of one extension, one
 * basename, one head, broken by paths without the key (no '.', a shorter basename). */
static void test_index_equal_keys(void)
{
  enum { NPATHS = 600 };
  static char storage[NPATHS][32];
  static const char *paths[NPATHS];
  for (int i = 0; i < NPATHS; i++) {
    int block = i / 50; /* 50 neighbours alike, then the next kind */
    char *out = storage[i];
    size_t size = sizeof(storage[i]);
    switch (block % 6) {
    case 0: /* one extension */
      snprintf(out, size, "d%02d/f%03d.c", block, i);
      break;
    case 1: /* one basename */
      snprintf(out, size, "d%02d/same", block);
      break;
    case 2: /* no extension */
      snprintf(out, size, "d%02d/f%03d", block, i);
      break;
    case 3: /* one folder, heads alike */
      snprintf(out, size, "e/f%02d%03d.c", block, i);
      break;
    case 4: /* an empty extension */
      snprintf(out, size, "d%02d/g%03d.", block, i);
      break;
    default: /* a basename shorter than most heads */
      snprintf(out, size, "d%02d/c.c", block);
      break;
    }
    paths[i] = storage[i];
  }
  static const char *const patterns[] = {
      "**/*.c", "d03/*.c", "**/same", "d07/same", "**/f0*", "**/f1?*.c", "e/**/f09*.c",
      "**/g*.", "**/*.",   "**/c.c",  "d11/c.c",  "**/f",   "**/same*",  "d05/f29*",
  };
  check_index_of(paths, NPATHS, patterns, sizeof(patterns) / sizeof(patterns[0]));
}

/* A table is built only once a few candidates have failed (the first try stops after 64 of
 * them), so the answer must not depend on where the first match lies relative to that cut,
 * nor on which tables earlier queries built: the same globs, in two orders, on fresh
 * indexes, with the only match at every distance from the start of its run. */
static void test_index_build_order(void)
{
  enum { NPATHS = 400 };
  static char storage[NPATHS][32];
  static const char *paths[NPATHS];
  static const int where[] = {0, 1, 62, 63, 64, 65, 66, 128, 200, 399};
  static const char *const patterns[] = {
      "**/*.go",   "d/**/*.go",          "**/odd/*", "**/odd/**/*.go", "**/mark*",
      "**/markx*", "{**/*.go,**/mark*}", "**/*.rs",  "d/**/*.rs",      "**/none/*",
  };
  size_t np = sizeof(patterns) / sizeof(patterns[0]);
  for (size_t w = 0; w < sizeof(where) / sizeof(where[0]); w++) {
    for (int i = 0; i < NPATHS; i++) {
      if (i == where[w])
        snprintf(storage[i], sizeof(storage[i]), "d/e%03d/odd/mark%03d.go", i, i);
      else
        snprintf(storage[i], sizeof(storage[i]), "d/e%03d/f%03d.c", i, i);
      paths[i] = storage[i];
    }
    for (int order = 0; order < 2; order++) {
      struct agent_glob_index *ix = index_of(paths, NPATHS);
      if (!ix)
        return;
      for (size_t i = 0; i < np; i++) {
        const char *p = patterns[order ? np - 1 - i : i];
        struct agent_glob *g = compile_ok(p);
        if (!g)
          continue;
        long fast = agent_glob_index_first(ix, g), slow = agent_glob_index_scan(ix, g);
        if (fast != slow)
          fprintf(stderr, "  index differs for '%s' (match at %d, order %d): %ld vs %ld\n", p,
                  where[w], order, fast, slow);
        CHECK_INT(fast, slow);
        agent_glob_free(g);
      }
      agent_glob_index_free(ix);
    }
  }
}

/* Random paths over a few letters: many equal names, folders and heads, and runs of
 * candidates longer than the 64 tried before a table is built. */
static struct agent_glob_index *random_index(char (*storage)[40], size_t npaths)
{
  struct agent_glob_index *ix = agent_glob_index_new(npaths);
  CHECK(ix != NULL);
  for (size_t i = 0; ix && i < npaths; i++) {
    size_t n = 0;
    for (unsigned seg = 1 + rnd(4); seg > 0; seg--) {
      for (unsigned k = 1 + rnd(4); k > 0; k--)
        storage[i][n++] = "aab.b"[rnd(5)];
      storage[i][n++] = '/';
    }
    storage[i][--n] = '\0';
    CHECK_INT(agent_glob_index_add(ix, storage[i], n), AGENT_GLOB_OK);
  }
  if (ix)
    CHECK_INT(agent_glob_index_build(ix), AGENT_GLOB_OK);
  return ix;
}

/* Random patterns (random_pattern's alphabet, some behind `**` + `/`) against random
 * indexes, each fresh one queried by 20 patterns: the index answers as the scan does,
 * whichever tables the patterns before happened to build. */
static void test_index_random(void)
{
  enum { NPATHS = 900 };
  static char storage[NPATHS][40];
  struct agent_glob_index *ix = NULL;
  long compared = 0, found = 0, mismatches = 0;
  for (int iter = 0; iter < 4000; iter++) {
    if (iter % 20 == 0) {
      agent_glob_index_free(ix);
      ix = random_index(storage, NPATHS);
      if (!ix)
        return;
    }
    char pat[80] = "**/";
    size_t lead = rnd(2) ? 3 : 0;
    size_t n = lead + random_pattern(pat + lead);
    struct agent_glob *g = NULL;
    char err[128];
    if (agent_glob_compile(pat, n, &g, err, sizeof(err)) != AGENT_GLOB_OK)
      continue;
    long fast = agent_glob_index_first(ix, g), slow = agent_glob_index_scan(ix, g);
    compared++;
    found += slow >= 0;
    if (fast != slow && mismatches++ < 10)
      fprintf(stderr, "  index differs for '%s': %ld vs %ld\n", pat, fast, slow);
    agent_glob_free(g);
  }
  agent_glob_index_free(ix);
  CHECK(compared > 2000 && found > compared / 10 && found < compared);
  CHECK_INT(mismatches, 0);
}

int main(void)
{
  test_limits_per_call();
  test_match_table();
  test_errors();
  test_brace_cap();
  test_pathological();
  test_against_fnmatch();
  test_index_agrees();
  test_index_basename_prefixes();
  test_index_basename_heads();
  test_index_unsorted();
  test_index_directory_runs();
  test_index_equal_keys();
  test_index_build_order();
  test_index_random();
  return TEST_DONE();
}
