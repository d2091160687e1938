/* agent.sys: the process and clock facts the pipeline needs (monotonic clock, wall time,
 * environment, terminals, process id, random ids, sleep) and SHA-256 for cache keys. */
#include "agent_limits.h"
#include "host.h"
#include "luax.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

/* sys.clock() -> milliseconds (float) from a monotonic clock; for durations only. */
static int sys_clock(lua_State *L)
{
  lua_pushnumber(L, (lua_Number)agent_monotonic_ms());
  return 1;
}

/* sys.time() -> seconds since the epoch (float), for timestamps. */
static int sys_time(lua_State *L)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/* sys.getenv(name) -> string | nil */
static int sys_getenv(lua_State *L)
{
  const char *v = getenv(luaL_checkstring(L, 1));
  if (!v)
    return 0;
  lua_pushstring(L, v);
  return 1;
}

/* sys.isatty(stream) -> boolean; stream is "stdin", "stdout", "stderr" or a descriptor. */
static int sys_isatty(lua_State *L)
{
  int fd;
  if (lua_type(L, 1) == LUA_TNUMBER) {
    fd = (int)luaL_checkinteger(L, 1);
  } else {
    static const char *const names[] = {"stdin", "stdout", "stderr", NULL};
    fd = luaL_checkoption(L, 1, NULL, names);
  }
  lua_pushboolean(L, isatty(fd));
  return 1;
}

/* sys.pid() -> integer */
static int sys_pid(lua_State *L)
{
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

/* sys.random_id([bytes = 8]) -> lower-case hex string of 2*bytes characters (bytes in
 * 1..AGENT_RANDOM_ID_MAX_BYTES), from the kernel's random source. Raises only for a bad size. */
static int sys_random_id(lua_State *L)
{
  lua_Integer n = luaL_optinteger(L, 1, 8);
  if (n < 1 || n > AGENT_RANDOM_ID_MAX_BYTES)
    return luaL_argerror(L, 1,
                         lua_pushfstring(L, "size must be 1..%d bytes", AGENT_RANDOM_ID_MAX_BYTES));
  unsigned char raw[AGENT_RANDOM_ID_MAX_BYTES];
  size_t got = 0;
  while (got < (size_t)n) {
    ssize_t r = getrandom(raw + got, (size_t)n - got, 0);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return agent_pusherrno(L, "random_id", "getrandom", errno);
    }
    got += (size_t)r;
  }
  char out[2 * AGENT_RANDOM_ID_MAX_BYTES];
  agent_hex(raw, (size_t)n, out);
  lua_pushlstring(L, out, (size_t)n * 2);
  return 1;
}

/* A pending SIGINT/SIGTERM interrupts nanosleep (EINTR), but one that arrives between the
 * check of the flag and the call would not: sleeping in slices bounds that window. */
#define SLEEP_SLICE_MS 100.0

/* sys.sleep(ms) -> true | nil, "sleep: interrupted", "interrupted"
 * Waits ms milliseconds (math.huge: until a signal); returns early, and at once, when
 * SIGINT/SIGTERM has been received. A negative ms does not wait. */
static int sys_sleep(lua_State *L)
{
  lua_Number ms = luaL_checknumber(L, 1);
  luaL_argcheck(L, !isnan(ms), 1, "not a number");
  double deadline = agent_monotonic_ms() + (ms > 0 ? ms : 0); /* inf stays inf */
  for (;;) {
    if (agent_signal_pending()) {
      luaL_pushfail(L);
      lua_pushliteral(L, "sleep: interrupted");
      lua_pushliteral(L, "interrupted");
      return 3;
    }
    double left = deadline - agent_monotonic_ms();
    if (left <= 0)
      break;
    double slice = left < SLEEP_SLICE_MS ? left : SLEEP_SLICE_MS; /* fits any time_t */
    struct timespec ts = {0, (long)(slice * 1e6)};
    nanosleep(&ts, NULL); /* EINTR: the loop looks at the flag */
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* ---- SHA-256 (FIPS 180-4), for content-addressed cache keys ---------------------------- */

struct sha256 {
  uint32_t h[8];
  uint64_t len;
  unsigned char buf[64];
  size_t fill;
};

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(struct sha256 *s, const unsigned char *p)
{
  uint32_t w[64];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
           (uint32_t)p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
  uint32_t e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 =
        h + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
    uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  s->h[0] += a;
  s->h[1] += b;
  s->h[2] += c;
  s->h[3] += d;
  s->h[4] += e;
  s->h[5] += f;
  s->h[6] += g;
  s->h[7] += h;
}

static void sha256_update(struct sha256 *s, const unsigned char *p, size_t n)
{
  s->len += n;
  while (n > 0) {
    size_t take = 64 - s->fill < n ? 64 - s->fill : n;
    memcpy(s->buf + s->fill, p, take);
    s->fill += take;
    p += take;
    n -= take;
    if (s->fill == 64) {
      sha256_block(s, s->buf);
      s->fill = 0;
    }
  }
}

static void sha256_final(struct sha256 *s, unsigned char out[32])
{
  uint64_t bits = s->len * 8;
  unsigned char pad = 0x80;
  sha256_update(s, &pad, 1);
  unsigned char zero = 0;
  while (s->fill != 56)
    sha256_update(s, &zero, 1);
  unsigned char lenbuf[8];
  for (int i = 0; i < 8; i++)
    lenbuf[i] = (unsigned char)(bits >> (56 - 8 * i));
  sha256_update(s, lenbuf, 8);
  for (int i = 0; i < 8; i++) {
    out[4 * i] = (unsigned char)(s->h[i] >> 24);
    out[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
    out[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
    out[4 * i + 3] = (unsigned char)s->h[i];
  }
}

/* sys.sha256(data) -> 64 lower-case hex characters. */
static int sys_sha256(lua_State *L)
{
  size_t n;
  const char *data = luaL_checklstring(L, 1, &n);
  struct sha256 s = {{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c,
                      0x1f83d9ab, 0x5be0cd19},
                     0,
                     {0},
                     0};
  sha256_update(&s, (const unsigned char *)data, n);
  unsigned char digest[32];
  sha256_final(&s, digest);
  char out[64];
  agent_hex(digest, sizeof(digest), out);
  lua_pushlstring(L, out, sizeof(out));
  return 1;
}

static const luaL_Reg sys_funcs[] = {
    {"clock", sys_clock},   {"time", sys_time},     {"getenv", sys_getenv},
    {"isatty", sys_isatty}, {"pid", sys_pid},       {"random_id", sys_random_id},
    {"sleep", sys_sleep},   {"sha256", sys_sha256}, {NULL, NULL},
};

/* luaopen_agent_sys(L) -> the agent.sys table. */
int luaopen_agent_sys(lua_State *L)
{
  luaL_newlib(L, sys_funcs);
  return 1;
}
