---@meta
-- agent.fs: the file system as the pipeline needs it (src/fs.c; the walker is src/walk.c and
-- the .gitignore matcher src/ignore.c). Annotation stub for the Lua language server.
--
-- Failures return nil, "<op> '<path>': <reason>", code, where code is the errno (an integer)
-- or a tag ("toobig", "busy", "interrupted"); wrong argument types raise, and so does an
-- unknown key in an options table ("unknown option 'gitingore'"). A path holding a NUL byte is
-- refused as a failure: nil, "<op> '<path with \0>': path contains a NUL byte", EINVAL.

---@class agent.fs
local fs = {}

---@class agent.fs.ReadOpts
---@field max_bytes? integer as the number form
---@field special? boolean default false; true reads a FIFO, socket or device to its end (and
---waits for it, as io.open would)

---Reads a whole file. Refuses files larger than max_bytes before reading a byte (and stops a
---growing file or a special file as soon as it passes the cap). A FIFO, socket or device is
---refused at once, without opening it for long: nil, "read '<path>': a FIFO, not a regular
---file (read it with {special = true})", EINVAL; a FIFO planted where a file is expected would
---otherwise hang the command. fs.walk never lists such files.
---Raises when max_bytes is negative or an option is unknown.
---@param path string
---@param max_bytes? integer|agent.fs.ReadOpts default 256 MiB (AGENT_FS_READ_MAX)
---@return string|nil data
---@return string? message e.g. "read 'a.txt': No such file or directory"
---@return integer|"toobig"|nil code errno, or "toobig"
function fs.read(path, max_bytes) end

---@class agent.fs.WriteOpts
---@field mode? integer permission bits, set exactly (420 for 0644: Lua has no octal); without it an
---existing file keeps its mode and a new one gets 0666 less the umask
---@field sync? boolean default true; false skips both fsyncs: the replacement stays atomic (a
---reader sees the old file or the new one, never part of one) but a crash may lose it. For files
---that are cheap to lose, such as cache entries; each fsync can take milliseconds on a busy disk.

---Replaces a file atomically: writes a hidden temp file in the same directory, fsyncs it,
---renames it over path, then fsyncs the directory (no fsync with sync = false). On failure the
---old file is intact and no temp file is left; once the rename is done the write has succeeded
---(the directory's fsync is best effort: a directory one may write but not read cannot be
---synced). A symlink at path is written through (its target is replaced). An existing file
---keeps its mode, without the setuid and setgid bits.
---Raises when opts.mode is outside 0..0o7777.
---@param path string
---@param data string
---@param opts? agent.fs.WriteOpts
---@return true|nil ok
---@return string? message e.g. "write 'out.md': File too large"
---@return integer? errno
function fs.write(path, data, opts) end

---Whether path exists (following symlinks: a dangling symlink does not).
---@param path string
---@return boolean
function fs.exists(path) end

---@class agent.fs.Stat
---@field type "file"|"directory"|"link"|"other" "link" only with follow = false
---@field size integer bytes
---@field mtime number seconds since the epoch, with fractions
---@field mode integer permission bits (st_mode & 0o7777)

---@class agent.fs.StatOpts
---@field follow? boolean default true; false describes a symlink itself

---Describes a file.
---@param path string
---@param opts? agent.fs.StatOpts
---@return agent.fs.Stat|nil st
---@return string? message
---@return integer? errno
function fs.stat(path, opts) end

---The names in a directory (dot files included, "." and ".." not), sorted bytewise.
---@param dir string
---@return string[]|nil names
---@return string? message
---@return integer? errno
function fs.list(dir) end

---@class agent.fs.WalkOpts
---@field gitignore? boolean honour every .gitignore under root with git's rules (default false)
---@field ignore? string[] extra gitignore lines, as if in a file at the root below every .gitignore
---@field hidden? boolean list dot files and enter dot directories (default false; .git never)
---@field follow? boolean enter symlinks to directories (default false); a link back to a
---directory on the current path is reported in errors instead of looping
---@field dirs? boolean also list directories, with a trailing "/" (default false)
---@field max_files? integer stop after this many entries (default 5,000,000); the stop is
---reported in errors and max_files of the entries listed so far are returned (the
---bytewise-first of them)
---@field max_ignore_bytes? integer a larger .gitignore is skipped and reported in errors, as
---git skips one (default 100 MiB)
---@field listing? boolean also return the files joined by "\n" as a third value: what
---table.concat(files, "\n") gives, built from the walk's own buffer (default false)

---Lists the files under root (which may itself be a symlink): iteratively (no depth limit,
---paths longer than PATH_MAX included), skipping .git, without stat calls where the file system
---gives entry types. A tree of more than a few dozen folders is read by up to four threads
---(one per CPU), all done before the call returns; the result is the same.
---Paths are relative to root, '/'-separated, sorted bytewise. Regular files and symlinks
---that do not lead to a directory are listed (a dangling link too); FIFOs, sockets and devices
---are not. With gitignore: negation (`!`), `dir/`, patterns anchored by a slash, `**/`, `/**`,
---`a/**/b`, `\#` and `\!`, trailing-space rules, each .gitignore governing its own subtree, a
---deeper file overriding a shallower one, and nothing re-included under an excluded
---directory. Only .gitignore files inside root are read (not .git/info/exclude or
---core.excludesFile). A .gitignore that is a symlink or not a regular file is not read
---(reported).
---Entries that cannot be read go to errors ("walk '<root>/<path>': <reason>") and the walk
---goes on; it fails only when root itself cannot be read.
---Raises on options of the wrong type, or max_files < 1.
---@param root string
---@param opts? agent.fs.WalkOpts
---@return string[]|nil files e.g. {"README.md", "src/main.c"}
---@return string[]|string errors the error messages (never nil), or the failure message
---@return integer|string|nil errno when root itself fails; with opts.listing, the listing
function fs.walk(root, opts) end

---@class agent.WalkJob
local WalkJob = {}

---Waits for the walk to end and returns what fs.walk would have returned for it (with the
---listing third when the job was started with listing = true). A SIGINT or SIGTERM while it
---waits stops the walk at its next folder: nil, "walk '<root>': Operation canceled",
---ECANCELED. Once only: the job hands its
---result over, and a second call, or a call after the job was closed, raises "walk job:
---already waited for, or closed".
---@return string[]|nil files
---@return string[]|string errors
---@return integer|string|nil errno when root fails; with opts.listing, the listing
function WalkJob:wait() end

---Starts fs.walk(root, opts) on a thread of its own and returns at once, so the caller can
---read and parse other files while the tree is read (context.gather reads the rules, ADRs
---and named files meanwhile). The job keeps its own copy of root and opts. Closing the job
---(`local job <close> = ...`) or collecting it before wait() stops the walk at its next
---directory and joins its thread. When no thread can be started, wait() walks on the
---calling thread. Options, raises and the NUL-byte failure are fs.walk's.
---@param root string
---@param opts? agent.fs.WalkOpts
---@return agent.WalkJob|nil job
---@return string? message for a path with a NUL byte
---@return integer? errno
function fs.walk_start(root, opts) end

---Makes a directory and its missing parents; an existing directory is fine.
---Raises when mode is outside 0..0o7777.
---@param path string
---@param mode? integer default 0o777 (less the umask, as mkdir)
---@return true|nil ok
---@return string? message e.g. "mkdir_p 'a/b': Not a directory"
---@return integer? errno
function fs.mkdir_p(path, mode) end

---The absolute path with no symlinks, "." or "..".
---@param path string
---@return string|nil abs
---@return string? message
---@return integer? errno
function fs.realpath(path) end

---Removes a file, a symlink (not its target) or an empty directory.
---@param path string
---@return true|nil ok
---@return string? message
---@return integer? errno
function fs.remove(path) end

---Renames (atomically replacing `to` when it exists, as rename(2)).
---@param from string
---@param to string
---@return true|nil ok
---@return string? message "rename '<from>' to '<to>': <reason>"
---@return integer? errno
function fs.rename(from, to) end

---@class agent.Lock
local Lock = {}

---Releases the lock. Raises "attempt to use a closed lock" when already released. The
---lock is also released by `local l <close> = ...` going out of scope and by garbage
---collection; those never raise.
---@return true
function Lock:unlock() end

---@class agent.fs.LockOpts
---@field wait? boolean default true; false returns "busy" at once when the lock is held
---@field timeout_ms? number how long to wait (default: as long as it takes)

---Takes an exclusive advisory lock (flock) on a lock file, creating it (it is never removed:
---that would let two processes hold "the" lock at once). The lock is held by this handle, so
---two fs.lock calls on one path exclude each other even within one process. A symlink at path
---is not followed (nil, "lock '<path>': a symlink, not followed", ELOOP: a planted link would
---make agent create or lock a file elsewhere), and anything but a regular file is refused
---("... a FIFO, not a regular file", EINVAL) without waiting.
---Raises when timeout_ms is negative.
---@param path string
---@param opts? agent.fs.LockOpts
---@return agent.Lock|nil lock
---@return string? message "lock '<path>': held by another process" | "... still held after N ms" | "... interrupted"
---@return integer|"busy"|"interrupted"|nil code "busy" when held elsewhere; "interrupted" on SIGINT/SIGTERM; else an errno
function fs.lock(path, opts) end

---The working directory.
---@return string|nil dir
---@return string? message when it no longer exists
---@return integer? errno
function fs.cwd() end

return fs
