/* libcurl opened with dlopen the first time a state sends a request, not linked: Debian's
 * libcurl pulls in some 37 shared objects (LDAP, RTMP, SSH, GSSAPI, two TLS stacks), and
 * loading them cost every run of agent milliseconds, including the commands that never make
 * an HTTP call. <curl/curl.h> still gives the types and constants. */
#include "curl_api.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where to look when AGENT_LIBCURL names no library: the OpenSSL flavour, then GnuTLS's. */
static const char *const LIBCURL_NAMES[] = {"libcurl.so.4", "libcurl-gnutls.so.4"};

/* 7.85.0 brought CURLOPT_PROTOCOLS_STR, which keeps transfers to http and https; an older
 * libcurl would ignore it and follow file:// or other schemes. */
#define LIBCURL_MIN_VERSION 0x075500
#define LIBCURL_MIN_TEXT "7.85.0"

/* The pointer types of struct curl_api are written out (C11 has no typeof); each must be the
 * very type curl.h declares, or calls through it would be undefined. _Generic compares them
 * without evaluating (so without linking) the function. */
#define CURL_CHECK(ret, name, params)                                                              \
  _Static_assert(_Generic(&curl_##name, ret(*) params : 1, default : 0),                           \
                 "curl_" #name " does not match its declaration in curl.h");
CURL_FUNCTIONS(CURL_CHECK)
#undef CURL_CHECK

/* dlsym hands back a void *; POSIX guarantees it converts to the function's pointer. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "function pointers fit a void *");

/* Resolves every function of CURL_FUNCTIONS; the dlerror() text of the first one missing,
 * or NULL when all are there. */
static const char *resolve_curl(void *dl, struct curl_api *api)
{
  static const struct {
    const char *symbol;
    size_t offset;
  } symbols[] = {
#define CURL_SYMBOL(ret, name, params) {"curl_" #name, offsetof(struct curl_api, name)},
      CURL_FUNCTIONS(CURL_SYMBOL)
#undef CURL_SYMBOL
  };
  for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
    dlerror(); /* clear: a NULL from dlsym is an error only if dlerror says so */
    void *sym = dlsym(dl, symbols[i].symbol);
    const char *err = dlerror();
    if (err || !sym)
      return err ? err : symbols[i].symbol;
    memcpy((char *)api + symbols[i].offset, &sym, sizeof(sym));
  }
  return NULL;
}

/* Initialises the loaded library (libcurl wants that before any other call) and checks its
 * version; 0, or -1 with the reason in msg and the initialisation undone. */
static int init_curl(struct curl_lib *lib, const char *name, char *msg, size_t size)
{
  CURLcode rc = lib->api.global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) {
    snprintf(msg, size, "http: libcurl failed to initialise (%s)", lib->api.easy_strerror(rc));
    return -1;
  }
  const curl_version_info_data *v = lib->api.version_info(CURLVERSION_NOW);
  if (v && v->version_num >= LIBCURL_MIN_VERSION)
    return 0;
  snprintf(msg, size,
           "http: cannot load libcurl (%s is version %s; " LIBCURL_MIN_TEXT
           " or newer is needed): install the libcurl4 package",
           name, v && v->version ? v->version : "unknown");
  lib->api.global_cleanup();
  return -1;
}

int agent_curl_load(struct curl_lib *lib, char *msg, size_t size)
{
  const char *env = getenv("AGENT_LIBCURL");
  const char *const *names = LIBCURL_NAMES;
  size_t count = sizeof(LIBCURL_NAMES) / sizeof(LIBCURL_NAMES[0]);
  if (env && *env) {
    names = &env;
    count = 1;
  }
  char why[256] = ""; /* the first dlerror(): the preferred library's is the useful one */
  const char *name = NULL;
  void *dl = NULL;
  for (size_t i = 0; !dl && i < count; i++) {
    name = names[i];
    dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    const char *err = dl ? NULL : dlerror();
    if (!dl && !why[0])
      snprintf(why, sizeof(why), "%s", err ? err : name);
  }
  const char *missing = dl ? resolve_curl(dl, &lib->api) : why;
  if (missing) {
    snprintf(msg, size, "http: cannot load libcurl (%s): install the libcurl4 package", missing);
    if (dl)
      dlclose(dl);
    return -1;
  }
  if (init_curl(lib, name, msg, size) != 0) {
    dlclose(dl);
    return -1;
  }
  lib->dl = dl;
  return 0;
}

void agent_curl_unload(struct curl_lib *lib)
{
  if (!lib->dl)
    return;
  lib->api.global_cleanup();
  dlclose(lib->dl);
  lib->dl = NULL;
}
