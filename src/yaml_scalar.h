/* YAML 1.2 core-schema resolution of scalars (null, bool, int, float, else string), kept
 * apart from the Lua binding so it can be tested and fuzzed as plain C. libyaml hands over
 * bytes and a style; deciding what `0x1F`, `.inf` or `Null` mean is ours. */
#ifndef AGENT_YAML_SCALAR_H
#define AGENT_YAML_SCALAR_H

#include <stddef.h>

enum agent_yaml_type {
  AGENT_YAML_NULL,
  AGENT_YAML_BOOL,
  AGENT_YAML_INT,
  AGENT_YAML_FLOAT,
  AGENT_YAML_STR
};

/* A resolved scalar: `type` says which member holds the value (none for null and str). */
struct agent_yaml_scalar {
  enum agent_yaml_type type;
  int boolean;
  long long integer;
  double number;
};

/* Resolves a plain (unquoted, untagged) scalar s[0..len) by the core schema; s need not be
 * NUL-terminated. Decimal, octal (0o) and hex (0x) integers that do not fit a long long
 * resolve to the nearest double. Returns 0, or -1 when memory for a long float ran out. */
int agent_yaml_resolve(const char *s, size_t len, struct agent_yaml_scalar *out);

/* Resolves s as an explicit tag demands (`!!int 0x10`, `!!float 1`, `!!null ""`):
 * want is NULL, BOOL, INT or FLOAT (STR always succeeds). Returns 1 when s is a valid form of
 * that type, 0 when it is not (out->type is then AGENT_YAML_STR), -1 when memory ran out. */
int agent_yaml_resolve_as(enum agent_yaml_type want, const char *s, size_t len,
                          struct agent_yaml_scalar *out);

/* The name of a type, as in messages: "null", "bool", "int", "float", "str". */
const char *agent_yaml_type_name(enum agent_yaml_type type);

#endif
