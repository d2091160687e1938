/* The YAML 1.2 core schema (yaml.org/spec/1.2.2, section 10.3.2) for scalars. The spec gives
 * each type as a regular expression; they are matched by hand here, in the spec's order
 * (null, bool, int, float, else str), so nothing is compiled at run time. */
#include "yaml_scalar.h"

#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int equals(const char *s, size_t len, const char *lit)
{
  return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

static int equals_any(const char *s, size_t len, const char *const *lits, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (equals(s, len, lits[i]))
      return 1;
  return 0;
}

/* The value of c as a digit in base 8, 10 or 16, or -1. */
static int digit_value(char c, int base)
{
  int v = -1;
  if (c >= '0' && c <= '9')
    v = c - '0';
  else if (c >= 'a' && c <= 'f')
    v = c - 'a' + 10;
  else if (c >= 'A' && c <= 'F')
    v = c - 'A' + 10;
  return v < base ? v : -1;
}

/* How many of the leading bytes of s[0..len) are digits of base. */
static size_t count_digits(const char *s, size_t len, int base)
{
  size_t n = 0;
  while (n < len && digit_value(s[n], base) >= 0)
    n++;
  return n;
}

/* null: ~ | null | Null | NULL | (empty) */
static int match_null(const char *s, size_t len)
{
  static const char *const forms[] = {"~", "null", "Null", "NULL"};
  return len == 0 || equals_any(s, len, forms, sizeof(forms) / sizeof(forms[0]));
}

/* bool: true | True | TRUE | false | False | FALSE (not yes/no/on/off: those are YAML 1.1) */
static int match_bool(const char *s, size_t len, int *value)
{
  static const char *const yes[] = {"true", "True", "TRUE"};
  static const char *const no[] = {"false", "False", "FALSE"};
  if (equals_any(s, len, yes, 3)) {
    *value = 1;
    return 1;
  }
  if (equals_any(s, len, no, 3)) {
    *value = 0;
    return 1;
  }
  return 0;
}

/* strtod on a NUL-terminated copy of a validated decimal float (s is not terminated). strtod
 * reads the locale's decimal point; when that is not '.', the first try stops short and the
 * copy is retried with the locale's point instead, as Lua's own tonumber does. Returns -1 when
 * a long copy finds no memory. */
static int decimal_to_double(const char *s, size_t len, double *out)
{
  char small[128];
  const char *point = NULL;
  size_t plen = 1;
  for (int attempt = 0; attempt < 2; attempt++) {
    size_t need = len + plen + 1; /* the grammar allows at most one '.' */
    char *buf = need <= sizeof(small) ? small : malloc(need);
    if (!buf)
      return -1;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
      if (s[i] == '.' && point) {
        memcpy(buf + n, point, plen);
        n += plen;
      } else {
        buf[n++] = s[i];
      }
    }
    buf[n] = '\0';
    char *end;
    *out = strtod(buf, &end); /* overflow gives +-HUGE_VAL: the nearest double, infinity */
    int whole = *end == '\0';
    if (buf != small)
      free(buf);
    if (whole || point)
      return 0;
    point = localeconv()->decimal_point;
    plen = point ? strlen(point) : 0;
    if (plen == 0)
      return 0;
  }
  return 0;
}

/* Octal or hex digits (bits = 3 or 4 per digit) to an integer, or to the correctly rounded
 * double when they exceed a long long. Keeps the leading 64 bits in `mant`, counts the rest
 * in `exp`, and folds any nonzero dropped bit into bit 0 (a sticky bit), which sits far
 * below the 53-bit rounding position, so the uint64-to-double conversion rounds right. */
static void pow2_radix(const char *s, size_t len, unsigned bits, struct agent_yaml_scalar *out)
{
  uint64_t mant = 0;
  unsigned used = 0; /* bit positions filled in mant since the first nonzero digit */
  int exp = 0, sticky = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned d = (unsigned)digit_value(s[i], 1 << bits);
    if (used == 0 && d == 0)
      continue; /* leading zeros */
    if (used + bits <= 64) {
      mant = mant << bits | d;
      used += bits;
    } else {
      exp += (int)bits;
      sticky |= d != 0;
    }
  }
  if (exp == 0 && mant <= (uint64_t)LLONG_MAX) {
    out->type = AGENT_YAML_INT;
    out->integer = (long long)mant;
  } else {
    out->type = AGENT_YAML_FLOAT;
    out->number = ldexp((double)(mant | (uint64_t)sticky), exp);
  }
}

/* Base 10 with an optional sign; a magnitude past the long long range becomes a double. */
static int decimal_int(const char *s, size_t len, struct agent_yaml_scalar *out)
{
  int neg = s[0] == '-';
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  unsigned long long limit = (unsigned long long)LLONG_MAX + (neg ? 1u : 0u);
  unsigned long long mag = 0;
  for (; i < len; i++) {
    unsigned d = (unsigned)(s[i] - '0');
    if (mag > (limit - d) / 10) {
      out->type = AGENT_YAML_FLOAT;
      return decimal_to_double(s, len, &out->number);
    }
    mag = mag * 10 + d;
  }
  out->type = AGENT_YAML_INT;
  /* -(LLONG_MIN) does not exist, so the most negative value is built without negating it */
  out->integer = !neg ? (long long)mag : mag == limit ? LLONG_MIN : -(long long)mag;
  return 0;
}

/* int: [-+]? [0-9]+ | 0o [0-7]+ | 0x [0-9a-fA-F]+
 * Returns 1 when s is an integer (out filled), 0 when not, -1 out of memory. */
static int match_int(const char *s, size_t len, struct agent_yaml_scalar *out)
{
  if (len > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
    unsigned bits = s[1] == 'o' ? 3 : 4;
    if (count_digits(s + 2, len - 2, 1 << bits) != len - 2)
      return 0;
    pow2_radix(s + 2, len - 2, bits, out);
    return 1;
  }
  size_t sign = len > 0 && (s[0] == '-' || s[0] == '+');
  if (len == sign || count_digits(s + sign, len - sign, 10) != len - sign)
    return 0;
  return decimal_int(s, len, out) < 0 ? -1 : 1;
}

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static int is_decimal_float(const char *s, size_t len)
{
  size_t i = len > 0 && (s[0] == '-' || s[0] == '+');
  size_t whole = count_digits(s + i, len - i, 10);
  i += whole;
  size_t frac = 0;
  if (i < len && s[i] == '.') {
    i++;
    frac = count_digits(s + i, len - i, 10);
    i += frac;
  }
  if (whole == 0 && frac == 0)
    return 0;
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < len && (s[i] == '-' || s[i] == '+'))
      i++;
    size_t exp = count_digits(s + i, len - i, 10);
    if (exp == 0)
      return 0;
    i += exp;
  }
  return i == len;
}

/* float: the decimal form above | [-+]? ( \.inf | \.Inf | \.INF ) | \.nan | \.NaN | \.NAN
 * Returns 1 when s is a float (out filled), 0 when not, -1 out of memory. */
static int match_float(const char *s, size_t len, struct agent_yaml_scalar *out)
{
  static const char *const infs[] = {".inf", ".Inf", ".INF"};
  static const char *const nans[] = {".nan", ".NaN", ".NAN"};
  size_t sign = len > 0 && (s[0] == '-' || s[0] == '+');
  if (equals_any(s + sign, len - sign, infs, 3)) {
    out->type = AGENT_YAML_FLOAT;
    out->number = s[0] == '-' ? -HUGE_VAL : HUGE_VAL;
    return 1;
  }
  if (equals_any(s, len, nans, 3)) {
    out->type = AGENT_YAML_FLOAT;
    out->number = NAN;
    return 1;
  }
  if (!is_decimal_float(s, len))
    return 0;
  out->type = AGENT_YAML_FLOAT;
  return decimal_to_double(s, len, &out->number) < 0 ? -1 : 1;
}

/* Whether s can be anything but a string: every null, bool, int and float form starts with
 * one of these bytes. Most scalars in real files are words, and stop here. */
static int may_be_typed(const char *s, size_t len)
{
  static const char starts[] = "~nNtTfF0123456789+-.";
  return len == 0 || memchr(starts, s[0], sizeof(starts) - 1) != NULL;
}

int agent_yaml_resolve(const char *s, size_t len, struct agent_yaml_scalar *out)
{
  memset(out, 0, sizeof(*out));
  if (!may_be_typed(s, len)) {
    out->type = AGENT_YAML_STR;
    return 0;
  }
  if (match_null(s, len)) {
    out->type = AGENT_YAML_NULL;
    return 0;
  }
  if (match_bool(s, len, &out->boolean)) {
    out->type = AGENT_YAML_BOOL;
    return 0;
  }
  int r = match_int(s, len, out);
  if (r == 0)
    r = match_float(s, len, out);
  if (r == 0)
    out->type = AGENT_YAML_STR;
  return r < 0 ? -1 : 0;
}

int agent_yaml_resolve_as(enum agent_yaml_type want, const char *s, size_t len,
                          struct agent_yaml_scalar *out)
{
  memset(out, 0, sizeof(*out));
  int r = 1;
  switch (want) {
  case AGENT_YAML_NULL:
    r = match_null(s, len);
    break;
  case AGENT_YAML_BOOL:
    r = match_bool(s, len, &out->boolean);
    break;
  case AGENT_YAML_INT:
    r = match_int(s, len, out);
    break;
  case AGENT_YAML_FLOAT:
    r = match_float(s, len, out);
    break;
  case AGENT_YAML_STR:
    break;
  }
  /* an int too large for a long long stays a (float) number under !!int, as untagged */
  if (r > 0 && want != AGENT_YAML_INT)
    out->type = want;
  if (r <= 0)
    out->type = AGENT_YAML_STR;
  return r;
}

const char *agent_yaml_type_name(enum agent_yaml_type type)
{
  switch (type) {
  case AGENT_YAML_NULL:
    return "null";
  case AGENT_YAML_BOOL:
    return "bool";
  case AGENT_YAML_INT:
    return "int";
  case AGENT_YAML_FLOAT:
    return "float";
  case AGENT_YAML_STR:
    break;
  }
  return "str";
}
