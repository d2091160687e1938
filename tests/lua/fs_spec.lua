-- agent.fs through agent.so: reads with caps, atomic writes (old file intact and no temp file
-- after a failure), stat/list/exists, the walk (options, .gitignore checked against git
-- itself, symlink loops, unreadable entries), NUL bytes in paths, locks across processes.
local fs = require("agent").fs
local t = require("testutil")

local EINVAL, ENOENT, ENOTDIR, EISDIR, ENOTEMPTY = 22, 2, 20, 21, 39
local LUA = "lua5.4"
local IS_ROOT = (function()
  local p = io.popen("id -u")
  local uid = p:read("l")
  p:close()
  return uid == "0"
end)()

-- Runs Lua code in a child process with the same agent.so; returns its stdout and success.
-- A LUA_CPATH holding a copy of agent.so that any user can load: a child that drops its
-- privileges may not reach the build folder (a clone under /root, mode 0700).
local function shared_cpath()
  local so = assert(package.searchpath("agent", os.getenv("LUA_CPATH") or package.cpath))
  local dir = t.tmpdir()
  assert(t.sh(("chmod 755 %s && cp %s %s/agent.so && chmod 644 %s/agent.so"):format(t.q(dir), t.q(so), t.q(dir), t.q(dir))))
  return dir .. "/?.so"
end

-- Runs code in a fresh lua5.4 that loads agent.so; prefix (a command such as setpriv) runs it.
local function child(code, prefix)
  local cpath = prefix and shared_cpath() or os.getenv("LUA_CPATH") or ""
  local cmd = ("%s env LUA_CPATH=%s %s -e %s 2>&1"):format(prefix or "", t.q(cpath), LUA, t.q(code))
  local p = io.popen(cmd)
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

local function sorted_copy(list)
  local c = {}
  for i, v in ipairs(list) do c[i] = v end
  table.sort(c) -- byte order in the C locale, like the walk's
  return c
end

describe("agent.fs", function()
  local dir
  before_each(function() dir = t.tmpdir() end)
  after_each(function() t.cleanup() end)

  describe("read", function()
    it("returns whole files, binary and empty ones too", function()
      local bin = "a\0b\255\r\n" .. ("x"):rep(100000)
      t.write(dir .. "/bin", bin)
      t.write(dir .. "/empty", "")
      assert.are.equal(bin, fs.read(dir .. "/bin"))
      assert.are.equal("", fs.read(dir .. "/empty"))
    end)

    it("refuses a file over max_bytes with 'toobig', and takes one exactly at it", function()
      t.write(dir .. "/ten", "0123456789")
      assert.are.equal("0123456789", fs.read(dir .. "/ten", 10))
      local v, msg, code = fs.read(dir .. "/ten", 9)
      assert.is_nil(v)
      assert.are.equal("read '" .. dir .. "/ten': larger than max_bytes (9 bytes)", msg)
      assert.are.equal("toobig", code)
    end)

    it("caps files whose size stat does not know", function()
      local status = assert(fs.read("/proc/self/status"))
      assert.matches("VmRSS", status)
      local v, _, code = fs.read("/proc/self/status", 16)
      assert.is_nil(v)
      assert.are.equal("toobig", code)
    end)

    it("fails with errno on missing files and directories", function()
      local cases = {
        { dir .. "/missing", ENOENT, "No such file or directory" },
        { dir, EISDIR, "Is a directory" },
        { dir .. "/missing/deeper", ENOENT, "No such file or directory" },
        { dir .. "/" .. ("n"):rep(300), 36, "File name too long" }, -- ENAMETOOLONG
      }
      t.write(dir .. "/file", "x")
      cases[#cases + 1] = { dir .. "/file/below", ENOTDIR, "Not a directory" }
      for _, c in ipairs(cases) do
        local v, msg, code = fs.read(c[1])
        assert.is_nil(v)
        assert.are.equal("read '" .. c[1] .. "': " .. c[3], msg)
        assert.are.equal(c[2], code)
      end
    end)

    it("raises on misuse", function()
      assert.has_error(function() fs.read() end)
      assert.has_error(function() fs.read({}) end)
      assert.has_error(function() fs.read(dir, -1) end)
      assert.has_error(function() fs.read(dir, "many") end)
    end)
  end)

  describe("write", function()
    local function leftovers(d)
      local names = assert(fs.list(d))
      local temps = {}
      for _, n in ipairs(names) do if n:match("%.tmp$") then temps[#temps + 1] = n end end
      return temps, names
    end

    it("creates and replaces files, leaving no temp file", function()
      local p = dir .. "/out.md"
      assert.is_true(fs.write(p, "one"))
      assert.are.equal("one", t.read(p))
      assert.is_true(fs.write(p, "two\0bytes"))
      assert.are.equal("two\0bytes", t.read(p))
      local temps, names = leftovers(dir)
      assert.are.same({}, temps)
      assert.are.same({ "out.md" }, names)
    end)

    it("gives a new file 0666 less the umask, keeps an existing mode, sets an explicit one", function()
      local p = io.popen("umask")
      local umask = tonumber(p:read("l"), 8)
      p:close()
      assert.is_true(fs.write(dir .. "/new", "x"))
      assert.are.equal(438 & ~umask, fs.stat(dir .. "/new").mode) -- 438 = 0666
      assert.is_true(t.sh("chmod 0751 " .. t.q(dir .. "/new")))
      assert.is_true(fs.write(dir .. "/new", "y"))
      assert.are.equal(tonumber("751", 8), fs.stat(dir .. "/new").mode)
      assert.is_true(fs.write(dir .. "/new", "z", { mode = tonumber("600", 8) }))
      assert.are.equal(tonumber("600", 8), fs.stat(dir .. "/new").mode)
      assert.has_error(function() fs.write(dir .. "/new", "z", { mode = 4096 }) end)
    end)

    it("with {sync = false} still replaces the file whole, keeps its mode, leaves no temp file", function()
      -- that it skips the fsyncs is counted in tests/c/test_fs.c; here: the same file results
      local p = dir .. "/entry.json"
      assert.is_true(fs.write(p, "old", { mode = tonumber("640", 8) }))
      assert.is_true(fs.write(p, ("new"):rep(10000), { sync = false }))
      assert.are.equal(("new"):rep(10000), t.read(p))
      assert.are.equal(tonumber("640", 8), fs.stat(p).mode)
      assert.is_true(fs.write(dir .. "/fresh", "", { sync = false, mode = tonumber("600", 8) }))
      assert.are.equal(tonumber("600", 8), fs.stat(dir .. "/fresh").mode)
      assert.are.same({}, (leftovers(dir)))
      local v, msg, code = fs.write(dir .. "/no/such/file", "x", { sync = false })
      assert.is_nil(v)
      assert.are.equal("write '" .. dir .. "/no/such/file': No such file or directory", msg)
      assert.are.equal(ENOENT, code)
    end)

    it("writes a bare name into the working directory", function()
      local out = child([[
        local fs = require("agent").fs
        print(fs.write("bare.txt", "here"), fs.read("bare.txt"))
      ]], "cd " .. t.q(dir) .. " &&")
      assert.are.equal("true\there\n", out)
      assert.are.same({ "bare.txt" }, fs.list(dir))
    end)

    it("writes through a symlink, which stays a symlink", function()
      t.write(dir .. "/target", "old")
      assert.is_true(t.sh("ln -s target " .. t.q(dir .. "/link")))
      assert.is_true(fs.write(dir .. "/link", "new"))
      assert.are.equal("new", t.read(dir .. "/target"))
      assert.are.equal("link", fs.stat(dir .. "/link", { follow = false }).type)
    end)

    it("fails cleanly: missing directory, a directory in the way", function()
      local v, msg, code = fs.write(dir .. "/no/such/file", "x")
      assert.is_nil(v)
      assert.are.equal("write '" .. dir .. "/no/such/file': No such file or directory", msg)
      assert.are.equal(ENOENT, code)
      assert.is_true(fs.mkdir_p(dir .. "/sub"))
      v, msg, code = fs.write(dir .. "/sub", "x")
      assert.is_nil(v)
      assert.matches("^write '" .. dir:gsub("%p", "%%%0") .. "/sub': ", msg)
      assert.are.equal(EISDIR, code)
      assert.are.same({ "sub" }, (select(2, leftovers(dir))))
      assert.are.same({}, fs.list(dir .. "/sub"))
    end)

    it("leaves the old file intact and no temp file when the write itself fails", function()
      -- RLIMIT_FSIZE of one block: writing 200 kB fails with EFBIG half way (SIGXFSZ ignored,
      -- which exec keeps). Works as root too, unlike a read-only directory.
      local p = dir .. "/keep.txt"
      t.write(p, "precious")
      local out = child(([[
        local fs = require("agent").fs
        print(fs.write(%q, ("x"):rep(200000)))
      ]]):format(p), "trap '' XFSZ; ulimit -f 1;")
      assert.matches("^nil\twrite '" .. p:gsub("%p", "%%%0") .. "': File too large\t27", out)
      assert.are.equal("precious", t.read(p))
      assert.are.same({}, (leftovers(dir)))
    end)

    it("raises on misuse", function()
      assert.has_error(function() fs.write(dir .. "/x") end)
      assert.has_error(function() fs.write(dir .. "/x", {}) end)
      assert.has_error(function() fs.write(dir .. "/x", "", "0644") end)
    end)
  end)

  describe("exists, stat, list", function()
    it("knows what exists", function()
      t.write(dir .. "/f", "x")
      assert.is_true(t.sh("ln -s nowhere " .. t.q(dir .. "/dangling")))
      assert.is_true(fs.exists(dir .. "/f"))
      assert.is_true(fs.exists(dir))
      assert.is_false(fs.exists(dir .. "/g"))
      assert.is_false(fs.exists(dir .. "/dangling"))
      assert.is_false(fs.exists(dir .. "/f\0"))
    end)

    it("describes files, directories and links", function()
      t.write(dir .. "/f", "12345")
      assert.is_true(t.sh("ln -s f " .. t.q(dir .. "/l")))
      local st = assert(fs.stat(dir .. "/f"))
      assert.are.equal("file", st.type)
      assert.are.equal(5, st.size)
      assert.is_true(math.abs(st.mtime - os.time()) < 60)
      assert.are.equal(tonumber("644", 8), st.mode)
      assert.are.equal("directory", fs.stat(dir).type)
      assert.are.equal("file", fs.stat(dir .. "/l").type)
      assert.are.equal("link", fs.stat(dir .. "/l", { follow = false }).type)
      assert.are.equal("other", fs.stat("/dev/null").type)
      local v, msg, code = fs.stat(dir .. "/none")
      assert.is_nil(v)
      assert.are.equal("stat '" .. dir .. "/none': No such file or directory", msg)
      assert.are.equal(ENOENT, code)
    end)

    it("lists names sorted bytewise, dot files included", function()
      for _, n in ipairs({ "b", "a", ".hidden", "B", "\xff\xfe", "\xc3\xa9" }) do t.write(dir .. "/" .. n, "") end
      assert.is_true(fs.mkdir_p(dir .. "/sub"))
      assert.are.same({ ".hidden", "B", "a", "b", "sub", "\xc3\xa9", "\xff\xfe" }, fs.list(dir))
      assert.are.same({}, fs.list(dir .. "/sub"))
      local v, msg, code = fs.list(dir .. "/b")
      assert.is_nil(v)
      assert.are.equal("list '" .. dir .. "/b': Not a directory", msg)
      assert.are.equal(ENOTDIR, code)
      assert.are.equal(ENOENT, select(3, fs.list(dir .. "/none")))
    end)
  end)

  describe("walk", function()
    local function tree(files)
      for _, f in ipairs(files) do
        if f:sub(-1) == "/" then assert(fs.mkdir_p(dir .. "/" .. f)) else t.write(dir .. "/" .. f, f) end
      end
    end

    it("lists files relative to the root, sorted, with each option", function()
      tree({ "b/c.txt", "a.txt", "b/d/e.txt", ".env", ".cfg/x", ".git/HEAD", "empty/", "a-b", "a0" })
      local files, errors = fs.walk(dir)
      assert.are.same({ "a-b", "a.txt", "a0", "b/c.txt", "b/d/e.txt" }, files)
      assert.are.same({}, errors)
      assert.are.same({ ".cfg/x", ".env", "a-b", "a.txt", "a0", "b/c.txt", "b/d/e.txt" },
        (fs.walk(dir, { hidden = true })))
      assert.are.same({ "a-b", "a.txt", "a0", "b/", "b/c.txt", "b/d/", "b/d/e.txt", "empty/" },
        (fs.walk(dir, { dirs = true })))
      assert.are.same({ "a-b", "a.txt", "b/c.txt" }, (fs.walk(dir .. "/", { ignore = { "a0", "d/" } })))
    end)

    it("lists a tree of hundreds of folders, which several threads read, whole and in order", function()
      -- more folders than the calling thread reads alone (src/walk.c), names chosen so that
      -- bytewise order differs from any per-folder order ("a-", "a.", "a/")
      local want = {}
      for i = 1, 400 do
        local top = ("t%02d"):format(i % 40)
        for _, f in ipairs({ ("%s/a%d/x"):format(top, i), ("%s/a%d-y"):format(top, i), ("%s/a%d.z"):format(top, i) }) do
          want[#want + 1] = f
        end
      end
      tree(want)
      t.write(dir .. "/.gitignore", "*.z\n")
      local files, errors = fs.walk(dir)
      assert.are.same(sorted_copy(want), files)
      assert.are.same({}, errors)
      local kept = {}
      for _, f in ipairs(sorted_copy(want)) do if not f:match("%.z$") then kept[#kept + 1] = f end end
      assert.are.same(kept, (fs.walk(dir, { gitignore = true })))
    end)

    it("joins the files into one listing with listing = true, as table.concat would", function()
      tree({ "b/c.txt", "a.txt", "b/d/e.txt", "caf\xc3\xa9", "z" })
      local files, errors, listing = fs.walk(dir, { listing = true })
      assert.are.same({}, errors)
      assert.are.equal(table.concat(files, "\n"), listing)
      assert.are.equal("a.txt\nb/c.txt\nb/d/e.txt\ncaf\xc3\xa9\nz", listing)
      assert.are.equal(2, select("#", fs.walk(dir)))
      files, errors, listing = fs.walk(dir, { listing = true, max_files = 2 }) -- cut to two
      assert.are.equal(1, #errors)
      assert.are.equal(2, #files)
      assert.are.equal(table.concat(files, "\n"), listing)
      assert.are.equal("", select(3, fs.walk(dir .. "/b/d", { listing = true, ignore = { "*" } })))
    end)

    it("stops at max_files and says so", function()
      tree({ "1", "2", "3", "4" })
      local files, errors = fs.walk(dir, { max_files = 2 })
      assert.are.equal(2, #files)
      assert.are.same({ "walk '" .. dir .. "': stopped after 2 entries (max_files)" }, errors)
    end)

    it("keeps invalid UTF-8 and odd bytes in names", function()
      tree({ "\xff\xfe.bin", "caf\xc3\xa9/x", "new\nline", "sp ace" })
      assert.are.same({ "caf\xc3\xa9/x", "new\nline", "sp ace", "\xff\xfe.bin" }, (fs.walk(dir)))
    end)

    it("honours .gitignore files exactly as git does", function()
      -- the same tree through `git ls-files --others --exclude-standard`, isolated from any
      -- user or system git configuration
      tree({ "app.log", "keep.log", "build/out.o", "src/build/x", "src/main.c", "src/gen/a.c",
        "src/gen/keep.c", "docs/a.txt", "docs/sub/b.txt", "deep/a/b/c/d.md", "deep/a/b/c/e.tmp",
        "vendor/lib/x.js", "vendor/keep/y.js", "#notes", "!bang", "trail ", "x/y/z/w.py",
        "only/dir/", "only/file", "a/b", "a/x/y/b", "a/xb", "caf\xc3\xa9.txt" })
      t.write(dir .. "/.gitignore", table.concat({ "# comment", "*.log", "!keep.log", "/build/",
        "docs/*.txt", "\\#notes", "\\!bang", "trail\\ ", "vendor/", "!vendor/keep/", "**/z/",
        "a/**/b", "only/*/", "" }, "\n"))
      t.write(dir .. "/src/.gitignore", "gen/*\n!gen/keep.c\nbuild\n")
      t.write(dir .. "/deep/a/.gitignore", "*.tmp   \r\n/b/c/d.md\n")
      local home = t.tmpdir()
      local env = ("HOME=%s XDG_CONFIG_HOME=%s GIT_CONFIG_NOSYSTEM=1"):format(t.q(home), t.q(home))
      assert.is_true(t.sh(("cd %s && %s git init -q . && rm -f .git/info/exclude"):format(t.q(dir), env)))
      local p = io.popen(("cd %s && %s git ls-files -z --others --exclude-standard"):format(t.q(dir), env))
      local out = p:read("a")
      p:close()
      local want = {}
      for path in out:gmatch("([^\0]+)\0") do want[#want + 1] = path end
      assert.is_true(#want >= 5, "git listed too little: " .. out) -- git ran
      local files, errors = fs.walk(dir, { gitignore = true, hidden = true })
      assert.are.same(sorted_copy(want), files) -- git lists in its own order
      assert.are.same({}, errors)
    end)

    it("never loops on symlinks: a -> b -> a, and a link to an ancestor with follow", function()
      tree({ "real/f", "top" })
      assert.is_true(t.sh(("cd %s && ln -s b a && ln -s a b && ln -s real lnk && ln -s .. real/up")
        :format(t.q(dir))))
      assert.are.same({ "a", "b", "real/f", "top" }, (fs.walk(dir)))
      local files, errors = fs.walk(dir, { follow = true })
      assert.are.same({ "a", "b", "lnk/f", "real/f", "top" }, files)
      assert.are.equal(2, #errors)
      for _, e in ipairs(errors) do assert.matches("%(loop%)$", e) end
    end)

    it("reports unreadable entries and goes on", function()
      tree({ "ok/a", "locked/secret", "z" })
      assert.is_true(t.sh("mkfifo " .. t.q(dir .. "/ok/.gitignore")))
      assert.is_true(t.sh("chmod 000 " .. t.q(dir .. "/locked") .. " && chmod 755 " .. t.q(dir)))
      local code = ([[
        local files, errors = require("agent").fs.walk(%q, { gitignore = true })
        print(table.concat(files, ",")) print(table.concat(errors, "\n"))
      ]]):format(dir)
      -- root reads anything: drop to nobody for the permission check
      local out = child(code, IS_ROOT and "setpriv --reuid=65534 --regid=65534 --clear-groups" or nil)
      assert.are.equal(table.concat({ "ok/a,z",
        "walk '" .. dir .. "/locked': Permission denied",
        "walk '" .. dir .. "/ok/.gitignore': not a regular file, not read", "" }, "\n"), out)
    end)

    it("fails only when the root itself cannot be read", function()
      t.write(dir .. "/f", "")
      local cases = { { dir .. "/none", ENOENT }, { dir .. "/f", ENOTDIR }, { "", ENOENT } }
      for _, c in ipairs(cases) do
        local files, msg, code = fs.walk(c[1])
        assert.is_nil(files)
        assert.matches("^walk '", msg)
        assert.are.equal(c[2], code)
      end
    end)

    it("raises on bad options", function()
      assert.has_error(function() fs.walk(dir, { max_files = 0 }) end)
      assert.has_error(function() fs.walk(dir, { ignore = "*.o" }) end)
      assert.has_error(function() fs.walk(dir, { ignore = { "*.o", 3 } }) end)
      assert.has_error(function() fs.walk(dir, "hidden") end)
      local ok, err = pcall(fs.walk, dir, { gitingore = true })
      assert.is_false(ok)
      assert.matches("bad argument #2 to '[%w.]*walk' %(unknown option 'gitingore'%)", err)
      local function raises(pattern, f, ...)
        local ok2, err2 = pcall(f, ...)
        assert.is_false(ok2)
        assert.matches(pattern, err2)
      end
      raises("^bad argument #2 to '[%w.]*walk' %(unknown option 'number'%)$", fs.walk, dir, { true })
      raises("^bad argument #2 to '[%w.]*stat' %(unknown option 'follows'%)$", fs.stat, dir, { follows = false })
      raises("^bad argument #2 to '[%w.]*lock' %(unknown option 'timeout'%)$", fs.lock, dir .. "/l", { timeout = 5 })
      raises("^bad argument #3 to '[%w.]*write' %(unknown option 'perm'%)$", fs.write, dir .. "/w", "", { perm = 1 })
    end)
  end)

  describe("walk_start", function()
    it("walks on its own thread and hands over what fs.walk returns, once", function()
      for i = 1, 300 do t.write(("%s/d%02d/s%03d/f%d.%s"):format(dir, i % 30, i, i, i % 3 == 0 and "log" or "c"), "x") end
      t.write(dir .. "/.gitignore", "*.log\n")
      t.write(dir .. "/.hidden", "x")
      local opts = { gitignore = true, hidden = true, ignore = { "d07/" }, listing = true }
      local job = fs.walk_start(dir, opts)
      opts.ignore[1] = "d08/" -- the job took its own copy of the options
      local files, errors, listing = job:wait()
      assert.are.equal(table.concat(files, "\n"), listing)
      assert.are.same(fs.walk(dir, { gitignore = true, hidden = true, ignore = { "d07/" } }), files)
      assert.are.same({}, errors)
      assert.are.equal(2 + 300 - 100 - 10, #files) -- .gitignore, .hidden; no .log, none of d07/
      local ok, err = pcall(job.wait, job)
      assert.is_false(ok)
      assert.matches("already waited for, or closed", err)
    end)

    it("reports a root it cannot read as fs.walk does, and a NUL byte at once", function()
      local v, msg, code = fs.walk_start(dir .. "/none"):wait()
      assert.is_nil(v)
      assert.are.equal("walk '" .. dir .. "/none': No such file or directory", msg)
      assert.are.equal(ENOENT, code)
      v, msg = fs.walk_start("a\0b")
      assert.is_nil(v)
      assert.matches("NUL byte", msg)
      assert.has_error(function() fs.walk_start(dir, { gitingore = true }) end)
    end)

    it("stops a walk nobody waits for when it is closed or collected", function()
      for i = 1, 200 do t.write(("%s/d%02d/f%d"):format(dir, i % 20, i), "x") end
      do local _ <close> = fs.walk_start(dir) end
      fs.walk_start(dir)
      collectgarbage()
      collectgarbage()
      -- a closed job can no longer be waited for
      local job = fs.walk_start(dir)
      getmetatable(job).__close(job)
      assert.has_error(function() job:wait() end)
    end)
  end)

  describe("paths with a NUL byte", function()
    it("are refused by every call with a clear message and EINVAL", function()
      local p = dir .. "/a\0b"
      local shown = dir .. "/a\\0b"
      local calls = {
        read = function() return fs.read(p) end,
        write = function() return fs.write(p, "x") end,
        stat = function() return fs.stat(p) end,
        list = function() return fs.list(p) end,
        walk = function() return fs.walk(p) end,
        mkdir_p = function() return fs.mkdir_p(p) end,
        realpath = function() return fs.realpath(p) end,
        remove = function() return fs.remove(p) end,
        rename = function() return fs.rename(dir, p) end,
        lock = function() return fs.lock(p) end,
      }
      for op, call in pairs(calls) do
        local v, msg, code = call()
        assert.is_nil(v, op)
        assert.are.equal(op .. " '" .. shown .. "': path contains a NUL byte", msg)
        assert.are.equal(EINVAL, code)
      end
      assert.are.same({}, fs.list(dir)) -- nothing was created under the cut-off name "a"
    end)
  end)

  describe("mkdir_p, realpath, remove, rename, cwd", function()
    it("makes nested directories, accepts existing ones, refuses files in the way", function()
      assert.is_true(fs.mkdir_p(dir .. "/a/b//c/"))
      assert.are.equal("directory", fs.stat(dir .. "/a/b/c").type)
      assert.is_true(fs.mkdir_p(dir .. "/a/b"))
      assert.is_true(fs.mkdir_p(dir .. "/m", tonumber("700", 8)))
      assert.are.equal(tonumber("700", 8), fs.stat(dir .. "/m").mode)
      t.write(dir .. "/file", "")
      local v, msg, code = fs.mkdir_p(dir .. "/file/sub")
      assert.is_nil(v)
      assert.are.equal("mkdir_p '" .. dir .. "/file/sub': Not a directory", msg)
      assert.are.equal(ENOTDIR, code)
      assert.are.equal(17, select(3, fs.mkdir_p(dir .. "/file"))) -- EEXIST: not a directory
    end)

    it("resolves real paths", function()
      assert.is_true(fs.mkdir_p(dir .. "/x/y"))
      assert.is_true(t.sh("ln -s x/y " .. t.q(dir .. "/l")))
      local real = assert(fs.realpath(dir))
      assert.are.equal(real .. "/x/y", fs.realpath(dir .. "/l"))
      assert.are.equal(real .. "/x", fs.realpath(dir .. "/x/y/.."))
      assert.are.equal(ENOENT, select(3, fs.realpath(dir .. "/none")))
      assert.are.equal(fs.realpath("."), fs.cwd())
    end)

    it("removes files, links and empty directories only", function()
      t.write(dir .. "/d/f", "")
      assert.is_true(t.sh("ln -s d " .. t.q(dir .. "/l")))
      assert.is_true(fs.remove(dir .. "/l"))
      assert.is_true(fs.exists(dir .. "/d/f"))
      local v, msg, code = fs.remove(dir .. "/d")
      assert.is_nil(v)
      assert.are.equal("remove '" .. dir .. "/d': Directory not empty", msg)
      assert.are.equal(ENOTEMPTY, code)
      assert.is_true(fs.remove(dir .. "/d/f"))
      assert.is_true(fs.remove(dir .. "/d"))
      assert.are.equal(ENOENT, select(3, fs.remove(dir .. "/d")))
    end)

    it("renames, naming both paths on failure", function()
      t.write(dir .. "/a", "A")
      t.write(dir .. "/b", "B")
      assert.is_true(fs.rename(dir .. "/a", dir .. "/b"))
      assert.are.equal("A", t.read(dir .. "/b"))
      local v, msg, code = fs.rename(dir .. "/a", dir .. "/c")
      assert.is_nil(v)
      assert.are.equal("rename '" .. dir .. "/a' to '" .. dir .. "/c': No such file or directory", msg)
      assert.are.equal(ENOENT, code)
    end)
  end)

  describe("lock", function()
    it("excludes a second holder until released, by unlock, <close> or collection", function()
      local p = dir .. "/cache.lock"
      local a = assert(fs.lock(p))
      assert.are.equal("agent.Lock ('" .. p .. "')", tostring(a))
      local v, msg, code = fs.lock(p, { wait = false })
      assert.is_nil(v)
      assert.are.equal("lock '" .. p .. "': held by another process", msg)
      assert.are.equal("busy", code)
      assert.is_true(a:unlock())
      assert.are.equal("agent.Lock (released)", tostring(a))
      assert.has_error(function() a:unlock() end, "attempt to use a closed lock")
      do
        local b <close> = assert(fs.lock(p, { wait = false })) -- luacheck: ignore 211 (held to the end of the block)
        assert.is_nil(fs.lock(p, { wait = false }))
      end
      local c = assert(fs.lock(p, { wait = false })) -- luacheck: ignore 231 (dropped for the collector)
      c = nil -- luacheck: ignore
      collectgarbage()
      collectgarbage()
      assert.is_truthy(fs.lock(p, { wait = false }))
      assert.is_true(fs.exists(p)) -- the lock file stays
    end)

    it("waits up to timeout_ms, then says busy", function()
      local p = dir .. "/l"
      local held = assert(fs.lock(p))
      local sys = require("agent").sys
      local start = sys.clock()
      local v, msg, code = fs.lock(p, { timeout_ms = 120 })
      local waited = sys.clock() - start
      assert.is_nil(v)
      assert.are.equal("lock '" .. p .. "': still held after 120 ms", msg)
      assert.are.equal("busy", code)
      assert.is_true(waited >= 115 and waited < 2000, "waited " .. waited .. " ms")
      held:unlock()
      assert.has_error(function() fs.lock(p, { timeout_ms = -1 }) end)
    end)

    it("is contended between processes", function()
      local p = dir .. "/shared.lock"
      local ready = dir .. "/ready"
      -- the child takes the lock, says so, holds it 400 ms and exits
      local code = ([[
        local fs = require("agent").fs
        local l = assert(fs.lock(%q))
        io.open(%q, "w"):close()
        require("agent").sys.sleep(400)
      ]]):format(p, ready)
      local cpath = os.getenv("LUA_CPATH") or ""
      assert.is_true(t.sh(("env LUA_CPATH=%s %s -e %s >/dev/null 2>&1 &"):format(t.q(cpath), LUA, t.q(code))))
      local sys = require("agent").sys
      for _ = 1, 500 do
        if fs.exists(ready) then break end
        sys.sleep(10)
      end
      assert.is_true(fs.exists(ready), "the child never took the lock")
      assert.are.equal("busy", select(3, fs.lock(p, { wait = false })))
      local start = sys.clock()
      local l = assert(fs.lock(p, { timeout_ms = 5000 }))
      assert.is_true(sys.clock() - start > 50) -- it had to wait for the child
      l:unlock()
    end)
  end)
end)
