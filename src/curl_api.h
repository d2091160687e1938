/* libcurl, loaded at run time: the table of every libcurl function agent calls, and the
 * dlopen that fills it. Plain C (no Lua): agent.http (src/http.c) keeps one per Lua state,
 * and tests/c/test_http_util.c loads one to reach curl_getdate. */
#ifndef AGENT_CURL_API_H
#define AGENT_CURL_API_H

#include <curl/curl.h>
#include <stddef.h>
#include <time.h>

/* Every libcurl function agent calls, once: return type, name after "curl_", parameters.
 * The list makes the table of pointers, the symbols to resolve, and a compile-time check of
 * each entry against its declaration in <curl/curl.h> (curl_api.c). */
#define CURL_FUNCTIONS(X)                                                                          \
  X(CURLcode, global_init, (long flags))                                                           \
  X(void, global_cleanup, (void))                                                                  \
  X(curl_version_info_data *, version_info, (CURLversion stamp))                                   \
  X(CURL *, easy_init, (void))                                                                     \
  X(void, easy_cleanup, (CURL * curl))                                                             \
  X(CURLcode, easy_setopt, (CURL * curl, CURLoption option, ...))                                  \
  X(CURLcode, easy_getinfo, (CURL * curl, CURLINFO info, ...))                                     \
  X(const char *, easy_strerror, (CURLcode code))                                                  \
  X(CURLM *, multi_init, (void))                                                                   \
  X(CURLMcode, multi_cleanup, (CURLM * multi))                                                     \
  X(CURLMcode, multi_add_handle, (CURLM * multi, CURL * curl))                                     \
  X(CURLMcode, multi_remove_handle, (CURLM * multi, CURL * curl))                                  \
  X(CURLMcode, multi_perform, (CURLM * multi, int *running))                                       \
  X(CURLMcode, multi_poll,                                                                         \
    (CURLM * multi, struct curl_waitfd extra_fds[], unsigned int extra_nfds, int timeout_ms,       \
     int *numfds))                                                                                 \
  X(CURLMsg *, multi_info_read, (CURLM * multi, int *msgs_in_queue))                               \
  X(const char *, multi_strerror, (CURLMcode code))                                                \
  X(struct curl_slist *, slist_append, (struct curl_slist * list, const char *string))             \
  X(void, slist_free_all, (struct curl_slist * list))                                              \
  X(time_t, getdate, (const char *p, const time_t *unused))

/* Members drop the "curl_" prefix: with it, curl's type-checking macros (curl_easy_setopt
 * is one under gcc) would expand at every `api->curl_easy_setopt(` call. */
struct curl_api {
#define CURL_POINTER(ret, name, params) ret(*name) params;
  CURL_FUNCTIONS(CURL_POINTER)
#undef CURL_POINTER
};

/* One loaded libcurl: the dlopen handle (NULL while not loaded) and its functions. dlopen
 * counts references, so any number of these can be loaded and unloaded independently. */
struct curl_lib {
  void *dl;
  struct curl_api api;
};

/* Opens libcurl into lib (zeroed or unloaded): the library AGENT_LIBCURL names when set,
 * else libcurl.so.4, else libcurl-gnutls.so.4; resolves every function, runs
 * curl_global_init and checks the version (7.85.0 or newer). 0 when ready; else -1 with one
 * line for the user in msg and lib left unloaded. */
int agent_curl_load(struct curl_lib *lib, char *msg, size_t size);

/* Undoes agent_curl_load (global cleanup, dlclose); a no-op on an unloaded lib. */
void agent_curl_unload(struct curl_lib *lib);

#endif
