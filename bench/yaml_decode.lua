-- The YAML throughput workload: reads FILE and decodes it with agent.yaml into Lua values.
-- Prints what it built, so a run that decoded nothing cannot pass for a fast one.
-- usage: agent lua bench/yaml_decode.lua FILE
local fs = require("agent.fs")
local yaml = require("agent.yaml")

local path = assert(arg[1], "usage: yaml_decode.lua FILE")
local text = assert(fs.read(path))
local doc = assert(yaml.decode(text))
local services = type(doc) == "table" and doc.services or {}
print(("bytes=%d services=%d"):format(#text, #services))
