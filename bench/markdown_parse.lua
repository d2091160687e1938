-- The markdown throughput workload: reads FILE and parses it with agent.markdown into the
-- heading tree (sections with their source text) and the list of fenced blocks.
-- Prints the counts, so a run that parsed nothing cannot pass for a fast one.
-- usage: agent lua bench/markdown_parse.lua FILE
local fs = require("agent.fs")
local markdown = require("agent.markdown")

local path = assert(arg[1], "usage: markdown_parse.lua FILE")
local text = assert(fs.read(path))
local doc = assert(markdown.parse(text))
print(("bytes=%d headings=%d code_blocks=%d"):format(#text, #doc.headings, #doc.code_blocks))
