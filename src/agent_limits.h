/* Every buffer, depth and time budget the C side enforces, in one place. Each is a default:
 * the Lua side passes overrides from .agent/etc/agent.yaml (`limits:`) as call options. */
#ifndef AGENT_LIMITS_H
#define AGENT_LIMITS_H

/* agent.fs */
#define AGENT_FS_READ_MAX (256u * 1024u * 1024u) /* fs.read without max_bytes */
#define AGENT_FS_WALK_MAX_FILES 5000000u         /* entries one walk may return */
#define AGENT_FS_IGNORE_FILE_MAX                                                                   \
  (100u * 1024u * 1024u) /* larger .gitignore files are skipped, as git does */
#define AGENT_FS_WALK_THREADS_MAX                                                                  \
  4 /* threads reading one walk's directories, the caller included */

/* agent.http */
#define AGENT_HTTP_BODY_MAX (32u * 1024u * 1024u) /* response body cap */
#define AGENT_HTTP_HEADERS_MAX (256u * 1024u)     /* response header lines, together */
#define AGENT_HTTP_TIMEOUT_MS 120000L             /* whole transfer */
#define AGENT_HTTP_CONNECT_TIMEOUT_MS 10000L
#define AGENT_HTTP_PARALLEL_MAX 64              /* transfers at once in request_all */
#define AGENT_HTTP_BACKOFF_MS 500L              /* first retry delay, doubled each time */
#define AGENT_HTTP_BACKOFF_MAX_MS 30000L        /* ceiling of one retry delay */
#define AGENT_SSE_LINE_MAX (4u * 1024u * 1024u) /* one server-sent-event line */
#define AGENT_HTTP_RETRIES_MAX 1000             /* highest `retries` a request may ask for */
#define AGENT_HTTP_FINAL_IF_MAX 8               /* strings in a request's final_if_body */
#define AGENT_HTTP_TIMEOUT_MAX_S                                                                   \
  1e6 /* longest timeout or backoff, s: 11 days fit a 32-bit long of ms */

/* agent.yaml */
#define AGENT_YAML_DEPTH_MAX 256          /* nesting of mappings and sequences */
#define AGENT_YAML_ALIAS_NODES_MAX 100000 /* nodes produced by alias expansion */
#define AGENT_YAML_INPUT_MAX (64u * 1024u * 1024u)

/* agent.markdown */
#define AGENT_MARKDOWN_INPUT_MAX (64u * 1024u * 1024u)

/* agent.sys */
#define AGENT_RANDOM_ID_MAX_BYTES 64 /* random bytes one sys.random_id may ask for */

/* Messages */
#define AGENT_EXCERPT_MAX 40      /* bytes of a key, value or line quoted in an error message */
#define AGENT_GLOB_EXCERPT_MAX 60 /* bytes of a glob quoted in an error message */

/* agent.rules */
#define AGENT_GLOB_PATTERN_MAX 4096 /* bytes in one glob */
#define AGENT_GLOB_BRACE_MAX 256    /* alternatives a pattern's braces may expand to */

/* Scripts (host.c): per call into a team script */
#define AGENT_SCRIPT_INSTRUCTIONS_MAX 200000000L       /* VM instructions */
#define AGENT_SCRIPT_MEMORY_MAX (256u * 1024u * 1024u) /* bytes a script may add */
#define AGENT_SCRIPT_TIME_MS 10000L                    /* wall-clock per call */
#define AGENT_HOOK_INTERVAL 1000                       /* instructions between budget checks */

#endif
