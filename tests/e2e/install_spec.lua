-- `cmake --install` into a temporary prefix: the layout, the installed binary run from an
-- unrelated directory and again after the prefix is moved (a relocated install), a stock
-- lua5.4 loading the installed agent.so, and the embedding example compiled with pkg-config
-- against the installed header and library.
require("agent")
local fs = require("agent.fs")
local json = require("agent.json")
local t = require("testutil")

local BUILD = os.getenv("AGENT_BUILD")

-- Runs a shell command; returns its output (stdout and stderr) and whether it succeeded.
local function capture(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  return out, ok == true
end

-- The installed binary, away from any repository and from the user's scripts.
local function installed(prefix, args, cwd)
  return t.run(args, { bin = prefix .. "/bin/agent", cwd = cwd or t.tmpdir(),
    env = { XDG_CONFIG_HOME = "/nonexistent/agent-test-config", AGENT_SCRIPTS = false } })
end

local function doc(r)
  assert.matches("^[^\n]+\n$", r.stdout, r.stderr)
  return assert(json.decode(r.stdout))
end

describe("cmake --install", function()
  local prefix

  setup(function()
    assert(BUILD, "AGENT_BUILD is not set (run through ctest)")
    prefix = t.tmpdir() .. "/prefix"
    local out, ok = capture(("cmake --install %s --prefix %s"):format(t.q(BUILD), t.q(prefix)))
    assert(ok, out)
  end)

  teardown(t.cleanup)

  it("puts every file where the layout says", function()
    for _, rel in ipairs({
      "bin/agent", "lib/libagent.a", "lib/lua/5.4/agent.so", "lib/pkgconfig/agent.pc", "include/agent.h",
      "share/agent/lua/agent/cli.lua", "share/agent/lua/agent/templates/story.lua", "share/agent/personas/security.lua",
      "share/agent/rules-examples/.agent/etc/agent.yaml", "share/man/man1/agent.1",
      "share/bash-completion/completions/agent", "share/zsh/site-functions/_agent",
    }) do
      assert.is_true(fs.exists(prefix .. "/" .. rel), rel)
    end
    assert.are.equal(t.read(t.src .. "/completions/agent.bash"), t.read(prefix .. "/share/bash-completion/completions/agent"))
    assert.are.equal(t.read(t.src .. "/completions/_agent"), t.read(prefix .. "/share/zsh/site-functions/_agent"))
    for _, dir in ipairs({ "lua", "personas", "rules-examples" }) do
      assert.are.same(fs.walk(t.src .. "/" .. dir, { hidden = true }), fs.walk(prefix .. "/share/agent/" .. dir, { hidden = true }), dir)
    end
    assert.is_true(fs.stat(prefix .. "/bin/agent").mode & 73 == 73, "bin/agent is not executable") -- 0111
  end)

  -- What an install must do wherever it sits: run from elsewhere and use its own share dir.
  local function works_from(p)
    local v = installed(p, { "version" })
    assert.are.equal(0, v.code, v.stderr)
    assert.matches("^agent %d+%.%d+%.%d+ %(Lua 5%.4", v.stdout)
    local personas = doc(installed(p, { "list", "personas", "--json" }))
    assert.are.equal(6, #personas)
    for _, persona in ipairs(personas) do
      assert.are.equal(p .. "/share/agent/personas/" .. persona.id .. ".lua", persona.file)
    end
    local dir = t.tmpdir()
    local init = doc(installed(p, { "init", dir, "--json" }))
    assert.are.same({ "installed", p .. "/share/agent/rules-examples/.agent" }, { init.source, init.source_path })
    local written = installed(p, { "new-runbook", "INFRA-012", "-q" }, dir)
    assert.are.equal(0, written.code, written.stderr)
    assert.is_true(fs.exists(dir .. "/.agent/cache/runbooks/INFRA/INFRA-012-runbook.md"))
  end

  it("runs the installed binary from an unrelated directory", function()
    works_from(prefix)
    local page, ok = capture(("env -u LD_PRELOAD MANWIDTH=80 man -l %s"):format(t.q(prefix .. "/share/man/man1/agent.1")))
    if ok then assert.matches("EXIT STATUS", page) end
  end)

  describe("moved to another prefix", function()
    local moved

    setup(function()
      moved = t.tmpdir() .. "/elsewhere/agent"
      assert(t.sh(("mkdir -p %s && mv %s %s"):format(t.q(moved:match("^(.*)/")), t.q(prefix), t.q(moved))))
    end)

    it("still finds its built-ins beside it", function()
      works_from(moved)
      local w = doc(installed(moved, { "which", "template", "story", "--json" }))
      assert.are.same({ moved .. "/share/agent/lua/agent/templates/story.lua", "installed" }, { w.path, w.origin })
    end)

    it("gives a stock lua5.4 require \"agent\" through LUA_CPATH", function()
      local script = [[
local agent = require("agent")
local doc = assert(agent.yaml.decode("a: [1, 2]"))
io.write(agent.version, " ", #doc.a, " ", tostring(agent.fs.exists("/")), "\n")
]]
      local file = t.write(t.tmpdir() .. "/use.lua", script)
      local out, ok = capture(("cd / && LUA_CPATH=%s lua5.4 %s"):format(t.q(moved .. "/lib/lua/5.4/?.so;;"), t.q(file)))
      assert(ok, out)
      local version = installed(moved, { "version", "--json" })
      assert.are.equal(doc(version).version .. " 2 true\n", out)
    end)

    it("compiles and runs the embedding example with pkg-config", function()
      if not t.sh("command -v pkg-config >/dev/null 2>&1 && command -v cc >/dev/null 2>&1") then
        pending("pkg-config or cc is missing")
        return
      end
      local env = "PKG_CONFIG_PATH=" .. t.q(moved .. "/lib/pkgconfig")
      local flags, ok = capture(env .. " pkg-config --cflags --libs agent")
      assert(ok, flags)
      assert.truthy(flags:find("-I" .. moved, 1, true), flags)
      -- an instrumented libagent.a needs the sanitizer runtime at link time
      local san = t.cmake_cache("AGENT_SANITIZE") == "ON" and "-fsanitize=address,undefined " or ""
      local exe = t.tmpdir() .. "/embed"
      local out, built = capture(("cc %s%s -o %s %s"):format(san, t.q(t.src .. "/docs/examples/embed.c"), t.q(exe), flags:gsub("\n", " ")))
      assert(built, out)
      local ran, ran_ok = capture("cd / && " .. t.q(exe))
      assert(ran_ok, ran)
      assert.matches("sha256%(abc%) = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ran)
    end)
  end)
end)
