-- luacheck configuration: Lua 5.4, no globals. `agent lua` scripts, persona and template scripts run
-- with their own environments, so their extra globals are declared per directory.
std = "lua54"
max_line_length = false
ignore = { "212/_.*", "213/_.*" } -- unused arguments and loop variables named _x are deliberate

files["personas/"] = { read_globals = { "agent", "base" } }
files["lua/agent/templates/"] = { read_globals = { "agent", "base" } }
files["rules-examples/"] = { read_globals = { "agent", "base" } }
files["tests/"] = { std = "+busted" }
files["bench/"] = { globals = { "arg" } }
files["editors/nvim/"] = { std = "luajit", read_globals = { "vim" } }
