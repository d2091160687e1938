/* Both pattern engines read [:name:] classes from one table (charclass.c): for every class
 * and every ASCII character, a rule glob (glob.c) and a gitignore pattern (ignore.c) agree
 * with each other and with the table; neither accepts an unknown class; bytes past ASCII are
 * in no class. */
#include "charclass.h"
#include "glob.h"
#include "ignore.h"

#include "test.h"

#include <stdio.h>
#include <string.h>

/* Whether the one-character path c matches [[:name:]] as a rule glob; -1 if it does not
 * compile. */
static int glob_has(const char *pattern, char c)
{
  struct agent_glob *g = NULL;
  char err[128];
  if (agent_glob_compile(pattern, strlen(pattern), &g, err, sizeof(err)) != 0)
    return -1;
  int m = agent_glob_match(g, &c, 1);
  agent_glob_free(g);
  return m;
}

static void test_engines_agree(void)
{
  CHECK_INT(agent_charclass_count, 12);
  for (size_t i = 0; i < agent_charclass_count; i++) {
    const struct agent_charclass *k = &agent_charclasses[i];
    char pattern[32];
    snprintf(pattern, sizeof(pattern), "[[:%s:]]", k->name);
    CHECK(agent_charclass_find(k->name, strlen(k->name)) == k);
    int members = 0;
    for (int c = 1; c < 128; c++) {
      if (c == '/')
        continue; /* a path separator, never one character of a name */
      char ch = (char)c;
      int want = agent_charclass_has(k, (unsigned long)c);
      int in_glob = glob_has(pattern, ch);
      int in_ignore = agent_ignore_wildmatch(pattern, strlen(pattern), &ch, 1);
      if (in_glob != want || in_ignore != want)
        fprintf(stderr, "%s, character %d: table %d, glob %d, gitignore %d\n", k->name, c, want,
                in_glob, in_ignore);
      CHECK(in_glob == want && in_ignore == want);
      members += want;
    }
    CHECK(members > 0);
    for (int c = 128; c < 256; c++) {
      char ch = (char)c;
      CHECK_INT(agent_ignore_wildmatch(pattern, strlen(pattern), &ch, 1), 0);
    }
  }
}

static void test_unknown_class(void)
{
  CHECK(agent_charclass_find("alphabet", 8) == NULL);
  CHECK(agent_charclass_find("alph", 4) == NULL);
  CHECK_INT(glob_has("[[:alphabet:]]", 'a'), -1);
  CHECK_INT(agent_ignore_wildmatch("[[:alphabet:]]", 14, "a", 1), 0);
  /* the reported case: [:print:] in a rule glob, which .gitignore always accepted */
  CHECK_INT(glob_has("[[:print:]]*", 'x'), 1);
}

int main(void)
{
  test_engines_agree();
  test_unknown_class();
  return TEST_DONE();
}
