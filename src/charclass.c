/* The one table of POSIX character classes, shared by glob.c and ignore.c (charclass.h). */
#include "charclass.h"

#include <string.h>

/* The C locale's classes over ASCII, as git's wildmatch and glibc's "C" locale define them. */
const struct agent_charclass agent_charclasses[] = {
    {"alnum", 3, {{'0', '9'}, {'A', 'Z'}, {'a', 'z'}}},
    {"alpha", 2, {{'A', 'Z'}, {'a', 'z'}}},
    {"blank", 2, {{'\t', '\t'}, {' ', ' '}}},
    {"cntrl", 2, {{0, 31}, {127, 127}}},
    {"digit", 1, {{'0', '9'}}},
    {"graph", 1, {{'!', '~'}}},
    {"lower", 1, {{'a', 'z'}}},
    {"print", 1, {{' ', '~'}}},
    {"punct", 4, {{'!', '/'}, {':', '@'}, {'[', '`'}, {'{', '~'}}},
    {"space", 2, {{'\t', '\r'}, {' ', ' '}}},
    {"upper", 1, {{'A', 'Z'}}},
    {"xdigit", 3, {{'0', '9'}, {'A', 'F'}, {'a', 'f'}}},
};

const size_t agent_charclass_count = sizeof(agent_charclasses) / sizeof(agent_charclasses[0]);

const struct agent_charclass *agent_charclass_find(const char *name, size_t len)
{
  for (size_t i = 0; i < agent_charclass_count; i++)
    if (strlen(agent_charclasses[i].name) == len &&
        memcmp(agent_charclasses[i].name, name, len) == 0)
      return &agent_charclasses[i];
  return NULL;
}

int agent_charclass_has(const struct agent_charclass *k, unsigned long c)
{
  for (unsigned i = 0; i < k->n; i++)
    if (c >= k->r[i].lo && c <= k->r[i].hi)
      return 1;
  return 0;
}
