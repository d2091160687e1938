/* Tests for ignore.c: git's wildmatch (WM_PATHNAME) and .gitignore lists, table-driven. Every
 * expectation was checked against git 2.39 (`git check-ignore -v -n`, and wildmatch through
 * anchored patterns), except that check-ignore also reports paths under an excluded parent,
 * which is the walker's business (it never descends there), not a list's. */
#include "ignore.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

enum { NONE = IGNORE_NONE, EXCL = IGNORE_EXCLUDED, INCL = IGNORE_INCLUDED };

static const struct {
  const char *pattern, *text;
  int match;
} wildmatch_cases[] = {
    {"foo", "foo", 1},
    {"foo", "bar", 0},
    {"???", "foo", 1},
    {"??", "foo", 0},
    {"*", "foo", 1},
    {"f*", "foo", 1},
    {"*f", "foo", 0},
    {"*foo*", "foo", 1},
    {"*ob*a*r*", "foobar", 1},
    {"*ab", "aaaaaaabababab", 1},
    {"foo\\*", "foo*", 1},
    {"foo\\*bar", "foobar", 0},
    {"f\\\\oo", "f\\oo", 1},
    {"*[al]?", "ball", 1},
    {"[ten]", "ten", 0},
    {"**[!te]", "ten", 1},
    {"**[!ten]", "ten", 0},
    {"t[a-g]n", "ten", 1},
    {"t[!a-g]n", "ten", 0},
    {"t[!a-g]n", "ton", 1},
    {"t[^a-g]n", "ton", 1},
    {"a[]]b", "a]b", 1},
    {"a[]-]b", "a-b", 1},
    {"a[]-]b", "a]b", 1},
    {"a[]-]b", "aab", 0},
    {"a[]a-]b", "aab", 1},
    {"]", "]", 1},
    {"foo*bar", "foo/baz/bar", 0},
    {"foo**bar", "foo/baz/bar", 0},
    {"foo**bar", "foobazbar", 1},
    {"foo/**/bar", "foo/baz/bar", 1},
    {"foo/**/**/bar", "foo/baz/bar", 1},
    {"foo/**/bar", "foo/b/a/z/bar", 1},
    {"foo/**/bar", "foo/bar", 1},
    {"foo/**/**/bar", "foo/bar", 1},
    {"foo?bar", "foo/bar", 0},
    {"foo[/]bar", "foo/bar", 0},
    {"foo[^a-z]bar", "foo/bar", 0},
    {"f[^eiu][^eiu][^eiu][^eiu][^eiu]r", "foo-bar", 1},
    {"**/foo", "foo", 1},
    {"**/foo", "XXX/foo", 1},
    {"**/foo", "bar/baz/foo", 1},
    {"*/foo", "bar/baz/foo", 0},
    {"**/bar*", "foo/bar/baz", 0},
    {"**/bar/*", "deep/foo/bar/baz", 1},
    {"**/bar/*", "deep/foo/bar", 0},
    {"**/bar**", "foo/bar/baz", 0},
    {"*/bar/**", "foo/bar/baz/x", 1},
    {"*/bar/**", "deep/foo/bar/baz/x", 0},
    {"**/bar/*/*", "deep/foo/bar/baz/x", 1},
    {"[[:alpha:]][[:digit:]][[:upper:]]", "a1B", 1},
    {"[[:digit:][:upper:][:space:]]", "a", 0},
    {"[[:digit:][:upper:][:space:]]", "A", 1},
    {"[[:digit:][:upper:][:space:]]", "1", 1},
    {"[[:digit:][:upper:][:spaci:]]", "1", 0},
    {"[[:xdigit:]]", "5", 1},
    {"[[:xdigit:]]", "f", 1},
    {"[a-c[:digit:]x-z]", "5", 1},
    {"[a-c[:digit:]x-z]", "b", 1},
    {"[a-c[:digit:]x-z]", "y", 1},
    {"[a-c[:digit:]x-z]", "q", 0},
    {"[\\]]", "]", 1},
    {"[\\-_]", "-", 1},
    {"[\\]", "\\", 0},
    {"[!]-]", "]", 0},
    {"[!]-]", "a", 1},
    {"\\", "\\", 0},
    {"[", "[", 0},
    {"[-]", "-", 1},
    {"[x-]", "-", 1},
    {"[-x]", "-", 1},
    {"[[]", "[", 1},
    {"a[b", "a[b", 0},
    {"[[:]", "[", 1},
    {"[[:]:]", "x", 0},
    {"[a-e-n]", "-", 1},
    {"[a-e-n]", "m", 0},
    {"[!a-e-n]", "-", 0},
    {"[]-a]", "`", 1},
    {"[]-a]", "[", 0},
    {"[[:space:]]", " ", 1},
    {"[[:punct:]]", "!", 1},
    {"[[:punct:]]", "a", 0},
    {"[[:lower:]]", "A", 0},
    {"[[:cntrl:]]", "\t", 1},
    {"-*-*-*-*-*-*-12-*-*-*-m-*-*-*", "-adobe-courier-bold-o-normal--12-120-75-75-m-70-iso8859-1",
     1},
    {"-*-*-*-*-*-*-12-*-*-*-m-*-*-*", "-adobe-courier-bold-o-normal--12-120-75-75-X-70-iso8859-1",
     0},
    {"**/*a*b*g*n*t", "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txt", 1},
    {"**/*a*b*g*n*t", "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txtz", 0},
    {"*/*/*", "foo/bba/arr", 1},
    {"*/*/*", "foo/bb/aa/rr", 0},
    {"**/**/**", "foo/bb/aa/rr", 1},
    {"*X*i", "abcXdefXghi", 1},
    {"*/*X*/*/*i", "ab/cXd/efXg/hi", 1},
    {"**/*X*/**/*i", "ab/cXd/efXg/hi", 1},
    {"*.c", "a/b.c", 0},
    {"a/*/b", "a/x/b", 1},
    {"a/*/b", "a/x/y/b", 0},
    {"a\\/b", "a/b", 1},
    {"a/**\\/b", "a/x/b", 1},
    {"a/**\\/b", "a/b", 0}, /* git tries no empty run before an escaped slash */
    {"**\\/b", "b", 0},
    {"**\\/b", "a/b", 1},
    {"*a", "ba", 1},
    {"a**", "a/b", 0},
    {"**a", "b/a", 0},
    {"x/**", "x/", 1},
    {"x/**", "x", 0},
};

/* One .gitignore text in directory `base`, asked about one path. */
static const struct {
  const char *gitignore, *base, *path;
  int is_dir, verdict;
} list_cases[] = {
    {"*.o", "", "a.o", 0, EXCL},
    {"*.o", "", "dir/a.o", 0, EXCL},
    {"*.o", "", "a.c", 0, NONE},
    {"/*.o", "", "a.o", 0, EXCL},
    {"/*.o", "", "dir/a.o", 0, NONE},
    {"build/", "", "build", 1, EXCL},
    {"build/", "", "build", 0, NONE},
    {"build/", "", "a/build", 1, EXCL},
    {"doc/frotz/", "", "doc/frotz", 1, EXCL},
    {"doc/frotz/", "", "a/doc/frotz", 1, NONE},
    {"doc/frotz", "", "doc/frotz", 0, EXCL},
    {"doc/frotz", "", "a/doc/frotz", 0, NONE},
    {"foo/*", "", "foo/test.json", 0, EXCL},
    {"foo/*", "", "foo/bar", 1, EXCL},
    {"foo/*", "", "foo/bar/hello.c", 0, NONE},
    {"**/foo", "", "foo", 0, EXCL},
    {"**/foo", "", "a/b/foo", 1, EXCL},
    {"**/foo/bar", "", "x/foo/bar", 0, EXCL},
    {"**/foo/bar", "", "foo/bar", 0, EXCL},
    {"**/foo/bar", "", "foo/x/bar", 0, NONE},
    {"abc/**", "", "abc/x/y", 0, EXCL},
    {"abc/**", "", "abc", 1, NONE},
    {"abc/**", "", "abc/x", 1, EXCL},
    {"a/**/b", "", "a/b", 0, EXCL},
    {"a/**/b", "", "a/x/b", 0, EXCL},
    {"a/**/b", "", "a/x/y/b", 0, EXCL},
    {"a/**/b", "", "a/xb", 0, NONE},
    {"*.log\n!keep.log", "", "keep.log", 0, INCL},
    {"*.log\n!keep.log", "", "x.log", 0, EXCL},
    {"!keep.log\n*.log", "", "keep.log", 0, EXCL},
    {"\\#hash", "", "#hash", 0, EXCL},
    {"#hash", "", "#hash", 0, NONE},
    {"\\!bang", "", "!bang", 0, EXCL},
    {"\\!bang", "", "bang", 0, NONE},
    {"foo   ", "", "foo", 0, EXCL},
    {"foo\\ ", "", "foo ", 0, EXCL},
    {"foo\\ ", "", "foo", 0, NONE},
    {"bar\r\n", "", "bar", 0, EXCL},
    {"\xef"
     "\xbb"
     "\xbf"
     "bom",
     "", "bom", 0, EXCL},
    {"tab\t", "", "tab", 0, NONE},
    {"tab\t", "", "tab\t", 0, EXCL},
    {" sp", "", " sp", 0, EXCL},
    {" sp", "", "sp", 0, NONE},
    {"*", "", "any/thing", 0, EXCL},
    {"a/", "", "a", 0, NONE},
    {"a/", "", "x/a", 1, EXCL},
    {"/", "", "a", 0, NONE},
    {"/", "", "a", 1, NONE},
    {"doc/*.txt", "", "doc/a.txt", 0, EXCL},
    {"doc/*.txt", "", "doc/x/a.txt", 0, NONE},
    {"*.txt\n!/doc/*.txt", "", "doc/a.txt", 0, INCL},
    {"*.txt\n!/doc/*.txt", "", "a.txt", 0, EXCL},
    {"/x", "sub", "sub/x", 0, EXCL},
    {"/x", "sub", "x", 0, NONE},
    {"/x", "sub", "sub/y/x", 0, NONE},
    {"x", "sub", "sub/a/x", 0, EXCL},
    {"x", "sub", "other/x", 0, NONE},
    {"y/z", "sub", "sub/y/z", 0, EXCL},
    {"y/z", "sub", "y/z", 0, NONE},
    {"**/z", "sub", "sub/a/b/z", 0, EXCL},
    {"*.[oa]", "", "lib.a", 0, EXCL},
    {"*.[oa]", "", "lib.so", 0, NONE},
    {"[!a]*", "", "abc", 0, NONE},
    {"[!a]*", "", "bcd", 0, EXCL},
    {"file?.c", "", "file1.c", 0, EXCL},
    {"file?.c", "", "file10.c", 0, NONE},
    {"Makefile", "", "src/Makefile", 0, EXCL},
    {"makefile", "", "Makefile", 0, NONE},
    {"# comment\n\n   \nreal", "", "real", 0, EXCL},
    {"trailing\\", "", "trailing", 0, NONE},
    {"a\\*b", "", "a*b", 0, EXCL},
    {"a\\*b", "", "axb", 0, NONE},
    {"**", "", "x/y/z", 0, EXCL},
    {"*/", "", "d", 1, EXCL},
    {"*/", "", "f", 0, NONE},
    {"/*/", "", "d", 1, EXCL},
    {"/*/", "", "d/e", 1, NONE},
    {"!*.c", "", "a.c", 0, INCL},
    {"a/b/", "", "a/b", 1, EXCL},
    {"a/b/", "", "a/b", 0, NONE},
    {"x/**/", "", "x/y", 1, EXCL},
    {"x/**/", "", "x/y", 0, NONE},
    {"foo/**/*.txt", "", "foo/a.txt", 0, EXCL},
    {"foo/**/*.txt", "", "foo/b/c/a.txt", 0, EXCL},
    {"*.TXT", "", "a.txt", 0, NONE},
};

static void test_wildmatch_table(void)
{
  for (size_t i = 0; i < sizeof(wildmatch_cases) / sizeof(wildmatch_cases[0]); i++) {
    const char *p = wildmatch_cases[i].pattern, *t = wildmatch_cases[i].text;
    int got = agent_ignore_wildmatch(p, strlen(p), t, strlen(t));
    if (got != wildmatch_cases[i].match)
      fprintf(stderr, "wildmatch('%s', '%s'): expected %d\n", p, t, wildmatch_cases[i].match);
    CHECK_INT(got, wildmatch_cases[i].match);
  }
}

static void test_list_table(void)
{
  for (size_t i = 0; i < sizeof(list_cases) / sizeof(list_cases[0]); i++) {
    const char *text = list_cases[i].gitignore, *base = list_cases[i].base;
    struct ignore_list *list = agent_ignore_new(base, strlen(base));
    CHECK(list != NULL);
    if (!list)
      return;
    CHECK_INT(agent_ignore_add_text(list, text, strlen(text)), 0);
    const char *path = list_cases[i].path;
    int got = (int)agent_ignore_match(list, path, strlen(path), list_cases[i].is_dir);
    if (got != list_cases[i].verdict)
      fprintf(stderr, "case %zu: '%s' in '%s' for '%s'%s\n", i, text, base, path,
              list_cases[i].is_dir ? " (dir)" : "");
    CHECK_INT(got, list_cases[i].verdict);
    agent_ignore_free(list);
  }
}

/* Lengths, not NUL terminators, delimit patterns and paths. */
static void test_explicit_lengths(void)
{
  CHECK_INT(agent_ignore_wildmatch("a*", 1, "ab", 2), 0); /* the pattern is "a" */
  CHECK_INT(agent_ignore_wildmatch("a*", 2, "ab", 1), 1); /* the text is "a" */
  CHECK_INT(agent_ignore_wildmatch("a\0b", 3, "a\0b", 3), 1);
  CHECK_INT(agent_ignore_wildmatch("a?b", 3, "a\0b", 3), 1);
  struct ignore_list *list = agent_ignore_new("sub/dir-and-more", 7); /* base "sub/dir" */
  CHECK(list != NULL);
  CHECK_INT(agent_ignore_add_line(list, "/x  junk", 2), 0); /* the line is "/x" */
  CHECK_INT(agent_ignore_match(list, "sub/dir/x", 9, 0), EXCL);
  CHECK_INT(agent_ignore_match(list, "sub/dir/xx", 9, 0), EXCL);  /* len 9: "sub/dir/x" */
  CHECK_INT(agent_ignore_match(list, "sub/dirx/x", 10, 0), NONE); /* not under the base */
  CHECK_INT(agent_ignore_match(list, "sub/dir", 7, 1), NONE);     /* the base itself */
  agent_ignore_free(list);
}

/* Blank and comment lines are not patterns; the count says what a file really holds. */
static void test_counts(void)
{
  struct ignore_list *list = agent_ignore_new("", 0);
  CHECK(list != NULL);
  const char *text = "# header\n\n*.o\r\n   \n!keep.o\n/\n\\#lit\nlast";
  CHECK_INT(agent_ignore_add_text(list, text, strlen(text)), 0);
  CHECK_INT(agent_ignore_count(list), 4); /* *.o, !keep.o, \#lit, last */
  CHECK_INT(agent_ignore_match(list, "last", 4, 0), EXCL);
  CHECK_INT(agent_ignore_match(list, "keep.o", 6, 0), INCL);
  agent_ignore_free(list);
}

/* Patterns that make naive backtracking matchers explode finish at once here. */
static void test_pathological(void)
{
  char text[4097], pat[512];
  memset(text, 'a', 4096);
  text[4096] = '\0';
  size_t n = 0;
  for (int i = 0; i < 100; i++) {
    pat[n++] = '*';
    pat[n++] = 'a';
  }
  pat[n++] = 'b';
  CHECK_INT(agent_ignore_wildmatch(pat, n, text, 4096), 0);
  for (size_t i = 0; i < 4096; i += 2)
    text[i] = '/';
  n = 0;
  for (int i = 0; i < 60; i++) {
    memcpy(pat + n, "**/a", 4);
    n += 4;
    pat[n++] = '/';
  }
  pat[n++] = 'b';
  CHECK_INT(agent_ignore_wildmatch(pat, n, text, 4096), 0);
}

int main(void)
{
  test_wildmatch_table();
  test_list_table();
  test_explicit_lengths();
  test_counts();
  test_pathological();
  return TEST_DONE();
}
