---@meta
-- agent.http: HTTP requests, many at once on one libcurl multi handle (src/http.c).
-- Annotation stub for the Lua language server; the code is in C.
--
-- Failures return nil, "<METHOD> '<url>': <reason>", code. The URL in a message has no
-- user info, query or fragment, and request headers never appear in one, so keys stay out
-- of logs. Codes:
--   "connect"     refused or unreachable (the target or a proxy)
--   "dns"         the host (or proxy) name does not resolve
--   "timeout"     `timeout` or `connect_timeout` ran out, or the `deadline` passed ("the
--                 deadline passed" during an attempt, "... before the request started" when
--                 it was still queued or already past)
--   "tls"         handshake or certificate failure
--   "toobig"      body over max_bytes, headers over max_header_bytes, or one server-sent
--                 event over its cap; the transfer is stopped, not read to the end
--   "interrupted" SIGINT or SIGTERM arrived; every transfer is stopped within 100 ms (once
--                 the signal is pending, later calls report it at once without connecting)
--   "http"        protocol failure: connection dropped mid-body, empty reply, bad URL...
--   "aborted"     out of memory while receiving
--   "unavailable" libcurl cannot be loaded: "http: cannot load libcurl (<dlerror>): install
--                 the libcurl4 package" (request_all then returns nil, msg, code too)
-- An HTTP error status (404, 500...) is a response, not a failure. Redirects are not
-- followed: a 3xx is a response too. Proxies come from http_proxy, https_proxy and no_proxy
-- in the environment, read by libcurl itself.
--
-- libcurl is loaded at run time, not linked: each Lua state dlopen()s libcurl.so.4 (else
-- libcurl-gnutls.so.4) on its first request, and unloads it when the module is collected.
-- The environment variable AGENT_LIBCURL names another library (a path or a soname).
-- Requiring the module never needs libcurl; a call that could not load it tries again.

---@class agent.http
local http = {}

---@class agent.http.event
---@field event string the `event:` type, "message" when the stream named none
---@field data string the `data:` lines joined with "\n"
---@field id? string the last event id the stream set (it persists across events)
---@field retry? integer the reconnection time (ms) the stream last set

---@class agent.http.request
---@field url string http:// or https://
---@field method? string upper-case; default "POST" when there is a body, else "GET"
---@field headers? table<string, string|number> values may not hold CR, LF or NUL
---@field body? string sent as is (kept alive by agent.http while the transfer runs)
---@field timeout? number seconds for one attempt, start to end (default 120)
---@field connect_timeout? number seconds to connect (default 10)
---@field max_bytes? integer response body cap (default 32 MiB); one server-sent event line or event is capped at the smaller of this and max_event_bytes
---@field max_event_bytes? integer cap on one server-sent event line or event (default 4 MiB)
---@field max_header_bytes? integer cap on a response's header lines (default 256 KiB)
---@field retries? integer extra attempts (default 0, at most 1000)
---@field retry_statuses? integer[] statuses that earn a retry (default 408, 429, 500, 502, 503, 504)
---@field backoff? number seconds before the first retry (default 0.5), doubled each time, with jitter
---@field backoff_max? number ceiling of one backoff wait in seconds (default 30); a Retry-After is waited for whatever this, when the retry can still start before the deadline (without one: within one attempt's timeout), else the response returns at once with retry_after set
---@field final_if_body? string[] at most 8 plain strings: a response with a retry status whose body holds one is not retried (waiting cannot clear it, e.g. "insufficient_quota")
---@field deadline? number absolute time in ms on agent.sys.clock()'s scale: no attempt starts at or after it, each attempt's timeout is capped to the time left, a retry wait that would end past it returns the last response or failure, and a request still queued when it passes fails with "timeout"
---@field on_event? fun(ev: agent.http.event) receives server-sent events of a 2xx response as they arrive

---@class agent.http.response
---@field status integer
---@field headers table<string, string> lower-case names; repeated headers joined with ", "
---@field body string decoded (gzip, deflate, br, zstd); for a stream, the raw event stream
---@field attempts integer attempts made (1 + retries used)
---@field elapsed_ms integer from the first attempt's start to the end, waits included
---@field retry_after? number seconds a Retry-After asked for and was not waited for (past the deadline)

---@class agent.http.failure
---@field error string the message request() would return
---@field code string the failure code
---@field attempts integer
---@field elapsed_ms integer

---One request. Retries wait for Retry-After (seconds or HTTP-date) or exponential backoff
---with jitter, on `retry_statuses` and on connection failures (refused, reset, closed early,
---connect timeout) that happened before any event reached `on_event`. Raises on misuse
---(a missing url, a bad field type); an error raised by `on_event` propagates unchanged
---after every transfer is released.
---@param req agent.http.request
---@return agent.http.response|nil res
---@return string? message
---@return string? code
function http.request(req) end

---Many requests on one multi handle, at most `parallel` at once (default 64). Returns one
---entry per request, in request order: the response or a failure table; or nil, msg,
---"unavailable" without libcurl (an empty `reqs` returns {} all the same). `on_done` runs
---from the poll loop (never inside libcurl) as each request finishes, in completion order,
---so callers can cache each reply the moment it lands. A wait between retries never holds
---up the other requests. An error raised by `on_done` or an `on_event` propagates unchanged,
---and every transfer is stopped and released first.
---@param reqs agent.http.request[]
---@param opts? {parallel?: integer, on_done?: fun(i: integer, res: agent.http.response|nil, err: string|nil, code: string|nil)}
---@return (agent.http.response|agent.http.failure)[]|nil results
---@return string? message
---@return string? code
function http.request_all(reqs, opts) end

return http
