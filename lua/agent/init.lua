-- require "agent": the Lua API for hosts that embed agent (editors, other tools, tests).
-- docs/lua-api.md documents it. The primitives are the C modules; the pipeline entry points
-- are added as their issues land.
local M = {
  version = require("agent.host").version,
  fs = require("agent.fs"),
  http = require("agent.http"),
  yaml = require("agent.yaml"),
  markdown = require("agent.markdown"),
  rules = require("agent.rules"),
  sys = require("agent.sys"),
  json = require("cjson"),
}

return M
