/* The POSIX character classes ([:alpha:] and the rest) that both pattern engines accept: rule
 * globs (glob.c) and gitignore patterns (ignore.c). One table, so `[[:print:]]` means the same
 * in .gitignore and in a rule's globs. ASCII only, independent of the locale, as in git. */
#ifndef AGENT_CHARCLASS_H
#define AGENT_CHARCLASS_H

#include <stddef.h>

/* A class as inclusive byte ranges (at most four). */
struct agent_charclass {
  const char *name;
  unsigned char n;
  struct {
    unsigned char lo, hi;
  } r[4];
};

/* Every class, sorted by name; agent_charclass_count of them. */
extern const struct agent_charclass agent_charclasses[];
extern const size_t agent_charclass_count;

/* The class called name[0..len) ("alpha", without the brackets and colons), or NULL. */
const struct agent_charclass *agent_charclass_find(const char *name, size_t len);

/* Whether the character c (a byte or a code point) belongs to class k. */
int agent_charclass_has(const struct agent_charclass *k, unsigned long c);

#endif
