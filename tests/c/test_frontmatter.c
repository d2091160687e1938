/* Tests for src/frontmatter.c: fences (BOM, CRLF, `...`, empty, unclosed, a second block in
 * the body), the leniency pre-pass on the not-quite-YAML of real rule files (every rewrite
 * and every thing it must leave alone, line count preserved), key lines, glob splitting. */
#include "frontmatter.h"
#include "test.h"

#include <stdlib.h>

struct split_case {
  const char *text;
  int rc, found;
  const char *yaml; /* NULL: no frontmatter */
  long yaml_line;
  const char *body;
  long body_line;
};

static const struct split_case split_cases[] = {
    /* the shapes of the reference rules */
    {"---\ndescription: Lean code\nglobs: [\"**/*\"]\nalwaysApply: true\n---\n\n# 400: Lean\n", 0,
     1, "description: Lean code\nglobs: [\"**/*\"]\nalwaysApply: true\n", 2, "\n# 400: Lean\n", 6},
    {"---\ndescription: The team\nalwaysApply: true\n---\n\n# 101\n\n---\nalwaysApply: true\n---\n",
     0, 1, "description: The team\nalwaysApply: true\n", 2,
     "\n# 101\n\n---\nalwaysApply: true\n---\n", 5}, /* the second block is body text */
    {"---\r\nglobs: *.ts\r\n---\r\nbody\r\n", 0, 1, "globs: *.ts\r\n", 2, "body\r\n", 4},
    {"\xEF\xBB\xBF---\na: 1\n---\nb", 0, 1, "a: 1\n", 2, "b", 4},
    {"---\n---\n", 0, 1, "", 2, "", 3},
    {"---\n---", 0, 1, "", 2, "", 3},
    {"---\na: 1\n...\nrest", 0, 1, "a: 1\n", 2, "rest", 4},
    {"--- \t\na: 1\n---  \nB", 0, 1, "a: 1\n", 2, "B", 4},
    {"---\na: 1\n---", 0, 1, "a: 1\n", 2, "", 4},
    {"---\n\n\nx: y\n---\nz", 0, 1, "\n\nx: y\n", 2, "z", 6},
    /* not frontmatter: the whole text is body, from line 1 */
    {"# Title\n---\na: 1\n---\n", 0, 0, NULL, 0, "# Title\n---\na: 1\n---\n", 1},
    {"----\na: 1\n---\n", 0, 0, NULL, 0, "----\na: 1\n---\n", 1},
    {"--- a\n---\n", 0, 0, NULL, 0, "--- a\n---\n", 1},
    {"", 0, 0, NULL, 0, "", 1},
    {"\xEF\xBB\xBF# x", 0, 0, NULL, 0, "\xEF\xBB\xBF# x", 1},
    /* an opening fence that never closes */
    {"---\na: 1\n", -1, 1, NULL, 0, NULL, 0},
    {"---", -1, 1, NULL, 0, NULL, 0},
    {"---\na: 1\n-- -\n....\n", -1, 1, NULL, 0, NULL, 0},
};

static void test_split(void)
{
  for (size_t i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
    const struct split_case *c = &split_cases[i];
    struct agent_frontmatter fm;
    size_t len = strlen(c->text);
    int rc = agent_frontmatter_split(c->text, len, &fm);
    CHECK_INT(rc, c->rc);
    if (rc != 0 || c->rc != 0)
      continue;
    CHECK_INT(fm.found, c->found);
    if (c->yaml) {
      char *yaml = strndup(c->text + fm.yaml_off, fm.yaml_len);
      CHECK_STR(yaml, c->yaml);
      free(yaml);
      CHECK_INT(fm.yaml_line, c->yaml_line);
    }
    CHECK(fm.body_off <= len);
    CHECK_STR(c->text + fm.body_off, c->body);
    CHECK_INT(fm.body_line, c->body_line);
  }
}

struct lenient_case {
  const char *in, *out;
};

static const struct lenient_case lenient_cases[] = {
    /* rewritten */
    {"globs: **/*.ts, src/**\n", "globs: '**/*.ts, src/**'\n"},
    {"globs: *.ts", "globs: '*.ts'"},
    {"globs: **/*.ts # TypeScript\n", "globs: '**/*.ts' # TypeScript\n"},
    {"globs: [**/*.ts, src/**]\n", "globs: ['**/*.ts', src/**]\n"},
    {"globs: [src/{a,b}/*.ts,  lib/[ab].c ]\n", "globs: ['src/{a,b}/*.ts', 'lib/[ab].c']\n"},
    {"globs: \"**/*.ts\", \"src/**\"\n", "globs: '\"**/*.ts\", \"src/**\"'\n"},
    {"globs: {src,lib}/**/*.ts\n", "globs: '{src,lib}/**/*.ts'\n"},
    {"globs: {*.ts,*.tsx}\n", "globs: '{*.ts,*.tsx}'\n"},
    {"globs: [abc]*.ts\n", "globs: '[abc]*.ts'\n"},
    {"globs: @scope/**\n", "globs: '@scope/**'\n"},
    {"description: Use this: always\n", "description: 'Use this: always'\n"},
    {"description: It's *bold*: yes\n", "description: 'It''s *bold*: yes'\n"},
    {"description: ends with:\n", "description: 'ends with:'\n"},
    {"key: 'a' 'b'\n", "key: '''a'' ''b'''\n"},
    {"globs:\n  - **/*.ts\n  - src/**\n", "globs:\n  - '**/*.ts'\n  - src/**\n"},
    {"globs:\r\n- *.c\r\nalwaysApply: true\r\n", "globs:\n- '*.c'\nalwaysApply: true\n"},
    {"a: x\ry\r\r\nb: 1\r", "a: x y \nb: 1"}, /* lone CRs: YAML would count them as lines */
    /* left alone */
    {"globs: [\"**/*\"]\n", NULL},
    {"globs: [\"**/*.py\", \"**/*.tsx\", \"**/*.ts\"]\n", NULL},
    {"globs: \"**/*.ts\"\n", NULL},
    {"globs: src/**/*.ts, lib/*.js\n", NULL},
    {"alwaysApply: true\n", NULL},
    {"description: Don't panic\n", NULL},
    {"url: http://example.com/a\n", NULL},
    {"map: {a: 1, b: 2}\n", NULL},
    {"list: [a, b, [c, d]]\n", NULL},
    {"anchor: &x value\nalias: *x\n", "anchor: &x value\nalias: '*x'\n"}, /* rules use no aliases */
    {"  nested: *glob\n", NULL},
    {"# comment: *x\n", NULL},
    {"items:\n  - name: a: b\n", NULL},
    {"description: |\n  - *not a glob\n  key: value: x\nglobs: *.c\n",
     "description: |\n  - *not a glob\n  key: value: x\nglobs: '*.c'\n"},
    {"items:\n  - >\n    - *literal\n  - *.md\n", "items:\n  - >\n    - *literal\n  - '*.md'\n"},
    {"description: \"multi\n  line: *still quoted\"\n", NULL},
    {"empty:\n", NULL},
    {"", NULL},
};

static long count_newlines(const char *s, size_t n)
{
  long k = 0;
  for (size_t i = 0; i < n; i++)
    k += s[i] == '\n';
  return k;
}

static void test_lenient(void)
{
  for (size_t i = 0; i < sizeof(lenient_cases) / sizeof(lenient_cases[0]); i++) {
    const struct lenient_case *c = &lenient_cases[i];
    const char *want = c->out ? c->out : c->in;
    size_t len = strlen(c->in);
    size_t need = agent_frontmatter_lenient(c->in, len, NULL, 0);
    char *out = malloc(need + 1);
    size_t wrote = agent_frontmatter_lenient(c->in, len, out, need);
    out[need] = '\0';
    CHECK_INT(wrote, need);
    CHECK_STR(out, want);
    CHECK_INT(count_newlines(out, need), count_newlines(c->in, len));
    free(out);
  }
  /* a short buffer gets a prefix and the full length */
  char small[8];
  memset(small, '#', sizeof(small));
  CHECK_INT(agent_frontmatter_lenient("globs: *.ts", 11, small, 5), 13);
  CHECK(memcmp(small, "globs###", 8) == 0);
}

static void test_key_line(void)
{
  const char *y = "description: x\n# globs: no\n  globs: nested\nglobs: a\nalwaysApply: true\n";
  size_t n = strlen(y);
  CHECK_INT(agent_frontmatter_key_line(y, n, "globs"), 4);
  CHECK_INT(agent_frontmatter_key_line(y, n, "alwaysApply"), 5);
  CHECK_INT(agent_frontmatter_key_line(y, n, "description"), 1);
  CHECK_INT(agent_frontmatter_key_line(y, n, "glob"), 0);
  CHECK_INT(agent_frontmatter_key_line(y, n, "missing"), 0);
}

struct glob_list_case {
  const char *in, *want; /* items joined with '|' */
};

static const struct glob_list_case glob_list_cases[] = {
    {"**/*.ts, src/**", "**/*.ts|src/**"},
    {"**/*.ts,src/**", "**/*.ts|src/**"},
    {" a ,  , b ,", "a|b"},
    {"\"**/*.ts\", \"src/**\"", "**/*.ts|src/**"},
    {"'**/*.md'", "**/*.md"},
    {"\" src/** \"", "src/**"},
    {"'a, b', c", "a, b|c"},
    {"src/{a,b}/*.ts, *.md", "src/{a,b}/*.ts|*.md"},
    {"[a,b]*.c, x", "[a,b]*.c|x"},
    {"a\\,b, c", "a\\,b|c"},
    {"\"\", ''", ""},
    {"", ""},
    {"single", "single"},
    {"\"unclosed, x", "\"unclosed|x"},
};

static void test_next_glob(void)
{
  for (size_t i = 0; i < sizeof(glob_list_cases) / sizeof(glob_list_cases[0]); i++) {
    const struct glob_list_case *c = &glob_list_cases[i];
    char got[256] = "";
    size_t used = 0, pos = 0, off, n, len = strlen(c->in);
    while (agent_frontmatter_next_glob(c->in, len, &pos, &off, &n)) {
      CHECK(off + n <= len);
      used += (size_t)snprintf(got + used, sizeof(got) - used, "%s%.*s", used ? "|" : "", (int)n,
                               c->in + off);
    }
    CHECK_STR(got, c->want);
  }
}

int main(void)
{
  test_split();
  test_lenient();
  test_key_line();
  test_next_glob();
  return TEST_DONE();
}
