---@meta
-- agent.sys: process and clock facts, random ids and SHA-256 (src/sys.c).
-- Annotation stub for the Lua language server; the code is in C.

---@class agent.sys
local sys = {}

---Milliseconds from a monotonic clock. Only differences are meaningful: use it for durations.
---@return number ms
function sys.clock() end

---Seconds since the Unix epoch, with fractions: for timestamps.
---@return number seconds
function sys.time() end

---An environment variable.
---@param name string
---@return string|nil value nil when unset
function sys.getenv(name) end

---Whether a stream is a terminal.
---@param stream "stdin"|"stdout"|"stderr"|integer a name or a file descriptor
---@return boolean
function sys.isatty(stream) end

---The process id.
---@return integer
function sys.pid() end

---A random id from the kernel's random source, as lower-case hex.
---Raises when bytes is outside 1..64.
---@param bytes? integer random bytes (default 8, so 16 hex characters)
---@return string|nil id
---@return string? message when the kernel refuses
---@return integer? errno
function sys.random_id(bytes) end

---Sleeps; returns early, and at once when one came before the call, on SIGINT or SIGTERM.
---A negative ms does not wait; math.huge waits for a signal. Raises for NaN.
---@param ms number milliseconds
---@return true|nil ok
---@return string? message "sleep: interrupted"
---@return string? code "interrupted"
function sys.sleep(ms) end

---SHA-256 of a string (cache keys).
---@param data string
---@return string hex 64 lower-case hex characters
function sys.sha256(data) end

return sys
