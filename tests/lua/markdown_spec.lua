-- agent.markdown: the heading tree with source lines, code blocks with their fences, safe
-- HTML, and the inputs that break naive parsers (deep nesting, nested fences, big files,
-- bad bytes, CRLF and BOM).
local agent = require("agent")
local markdown, sys = agent.markdown, agent.sys

-- {title, level, line, body_line, end_line} of each heading, for compact comparisons.
local function outline(doc)
  local out = {}
  for _, h in ipairs(doc.headings) do
    out[#out + 1] = { h.title, h.level, h.line, h.body_line, h.end_line }
  end
  return out
end

describe("markdown.parse headings", function()
  local text = table.concat({
    "# Story", -- 1
    "", -- 2
    "Intro text.", -- 3
    "", -- 4
    "## Problem", -- 5
    "It is slow.", -- 6
    "### Detail *with* `code`", -- 7
    "More.", -- 8
    "## Solution ##", -- 9
    "Do it.", -- 10
    "# Appendix", -- 11
    "Last line.", -- 12
  }, "\n") .. "\n"

  it("gives every heading with its lines, in document order", function()
    local doc = assert(markdown.parse(text))
    assert.are.same({
      { "Story", 1, 1, 2, 10 },
      { "Problem", 2, 5, 6, 8 },
      { "Detail with code", 3, 7, 8, 8 },
      { "Solution", 2, 9, 10, 10 },
      { "Appendix", 1, 11, 12, 12 },
    }, outline(doc))
  end)

  it("nests sections under the heading above them, sharing the same tables", function()
    local doc = assert(markdown.parse(text))
    assert.are.equal(2, #doc.sections)
    local story = doc.sections[1]
    assert.are.equal(2, #story.children)
    assert.is_true(rawequal(doc.headings[2], story.children[1]))
    assert.are.equal("Detail with code", story.children[1].children[1].title)
    assert.are.same({}, story.children[2].children)
    assert.are.same({}, doc.sections[2].children)
  end)

  it("takes section text from the source lines", function()
    local doc = assert(markdown.parse(text))
    assert.are.equal("It is slow.\n### Detail *with* `code`\nMore.", doc.headings[2].text)
    assert.are.equal("More.", doc.headings[3].text)
    assert.are.equal("Last line.", doc.headings[5].text)
  end)

  it("gives an empty text to a heading followed at once by another", function()
    local doc = assert(markdown.parse("# A\n# B\n"))
    assert.are.same({ { "A", 1, 1, 2, 1 }, { "B", 1, 2, 3, 2 } }, outline(doc))
    assert.are.equal("", doc.headings[1].text)
  end)

  it("reads setext headings, with their underline outside the body", function()
    local doc = assert(markdown.parse("Title\n=====\nbody\n\nTwo\nlines\n---\n\n\nafter\n"))
    assert.are.same({ { "Title", 1, 1, 3, 10 }, { "Two lines", 2, 5, 8, 10 } }, outline(doc))
    assert.are.equal("body\n", doc.headings[1].text:sub(1, 5))
    assert.are.equal("\n\nafter", doc.headings[2].text)
  end)

  it("reads a setext heading inside a block quote", function()
    local doc = assert(markdown.parse("> Quoted\n> ---\n> text\n"))
    assert.are.same({ { "Quoted", 2, 1, 3, 3 } }, outline(doc))
  end)

  it("does not take headings inside fences or indented code", function()
    local doc = assert(markdown.parse(table.concat({
      "# Real", "```", "# not a heading", "```", "~~~~", "## nor this", "~~~~", "",
      "    # nor this", "", "## Also real",
    }, "\n")))
    assert.are.same({ { "Real", 1, 1, 2, 11 }, { "Also real", 2, 11, 12, 11 } }, outline(doc))
  end)

  it("gives empty results for empty input", function()
    assert.are.same({ sections = {}, headings = {}, code_blocks = {} }, markdown.parse(""))
  end)
end)

describe("markdown.parse code blocks", function()
  it("reports fenced blocks with info, lang, text, lines and fence", function()
    local doc = assert(markdown.parse("Text\n\n```lua {.numbered}\nlocal x = 1\n```\n\n~~~\nplain\n~~~\n"))
    assert.are.same({
      { info = "lua {.numbered}", lang = "lua", text = "local x = 1\n", line = 3, end_line = 5, fence = "```" },
      { info = "", lang = "", text = "plain\n", line = 7, end_line = 9, fence = "~~~" },
    }, doc.code_blocks)
  end)

  it("keeps a ``` block inside a ```` fence as one block", function()
    local inner = "# Heading in a file\n```c\nint x;\n```\n"
    local doc = assert(markdown.parse("## [NEW] docs/x.md\n````markdown\n" .. inner .. "````\n## Next\n"))
    assert.are.equal(1, #doc.code_blocks)
    local b = doc.code_blocks[1]
    assert.are.equal("````", b.fence)
    assert.are.equal("markdown", b.lang)
    assert.are.equal(inner, b.text)
    assert.are.same({ 2, 7 }, { b.line, b.end_line })
    assert.are.same({ { "[NEW] docs/x.md", 2, 1, 2, 7 }, { "Next", 2, 8, 9, 8 } }, outline(doc))
  end)

  it("gives indented code an empty fence and info, and its own last line", function()
    -- cmark 0.30 says this block ends on line 5 (where "x" closed it); its content ends on 3
    local doc = assert(markdown.parse("    code\n\n    more\n\n\nx\n"))
    assert.are.same({ { info = "", lang = "", text = "code\n\nmore\n", line = 1, end_line = 3, fence = "" } },
      doc.code_blocks)
  end)

  it("tells indented code that starts with backticks from a fence", function()
    local doc = assert(markdown.parse("    ```\n    x\n"))
    assert.are.same({ "", "```\nx\n", 1, 2 },
      { doc.code_blocks[1].fence, doc.code_blocks[1].text, doc.code_blocks[1].line, doc.code_blocks[1].end_line })
  end)

  it("ends a fence cut short by its container on its last content line", function()
    local doc = assert(markdown.parse("> ```\n> quoted\nlazy\n\n> ```sh\n> closed\n> ```\n"))
    assert.are.same({ 1, 2, "```" }, { doc.code_blocks[1].line, doc.code_blocks[1].end_line, doc.code_blocks[1].fence })
    assert.are.same({ 5, 7 }, { doc.code_blocks[2].line, doc.code_blocks[2].end_line })
    -- the next line looks like a closing fence but opens a new block outside the quote
    doc = assert(markdown.parse("> ```\n> a\n```\nb\n```\n"))
    assert.are.same({ { 1, 2 }, { 3, 5 } },
      { { doc.code_blocks[1].line, doc.code_blocks[1].end_line }, { doc.code_blocks[2].line, doc.code_blocks[2].end_line } })
  end)

  it("runs an unclosed fence to the end of the document", function()
    local doc = assert(markdown.parse("# H\n```\ncode\n\n# inside\n"))
    assert.are.same({ 2, 5 }, { doc.code_blocks[1].line, doc.code_blocks[1].end_line })
    assert.are.equal(1, #doc.headings)
  end)

  it("finds fences inside lists and block quotes", function()
    local doc = assert(markdown.parse("- item\n\n  ```py\n  x = 1\n  ```\n\n> ~~~~\n> y\n> ~~~~\n"))
    assert.are.same({ "py", "```", 3, 5 }, { doc.code_blocks[1].lang, doc.code_blocks[1].fence,
      doc.code_blocks[1].line, doc.code_blocks[1].end_line })
    assert.are.same({ "~~~~", 7, 9 }, { doc.code_blocks[2].fence, doc.code_blocks[2].line, doc.code_blocks[2].end_line })
  end)
end)

describe("markdown limits and hostile input", function()
  it("parses 10,000-deep block quotes and lists", function()
    for _, text in ipairs({
      string.rep(">", 10000) .. " # deep\ntext\n",
      string.rep("- ", 10000) .. "# deep\ntext\n",
    }) do
      local doc = assert(markdown.parse(text))
      assert.are.same({ { "deep", 1, 1, 2, 2 } }, outline(doc))
      assert.matches("<h1>deep</h1>", assert(markdown.to_html(text)))
    end
  end)

  it("parses a 5 MB file, late sections included", function()
    local parts, line, expect = { "# Big document\n\n" }, 3, {}
    local i = 0
    local size = #parts[1]
    while size < 5 * 1024 * 1024 do
      i = i + 1
      local section = ("## Section %d\n\nParagraph %d with *emphasis*, `code` and a [link](https://example.com/%d).\n\n"
        .. "```lua\n# not a heading %d\nlocal x = %d\n```\n\n%s\n\n"):format(i, i, i, i, i, string.rep("filler text ", 20))
      expect[i] = line
      parts[#parts + 1] = section
      size = size + #section
      line = line + 11 -- the lines of one section
    end
    local text = table.concat(parts)
    local t0 = sys.clock()
    local doc = assert(markdown.parse(text))
    local ms = sys.clock() - t0
    io.stderr:write(("\nmarkdown.parse: %d bytes, %d headings in %.0f ms\n"):format(#text, #doc.headings, ms))
    assert.is_true(#text >= 5 * 1024 * 1024)
    assert.are.equal(i + 1, #doc.headings)
    assert.are.equal(i, #doc.code_blocks)
    assert.are.equal(i, #doc.sections[1].children)
    local late = doc.headings[i] -- "Section i-1"
    assert.are.equal("Section " .. (i - 1), late.title)
    assert.are.same({ expect[i - 1], expect[i - 1] + 1, expect[i] - 1 }, { late.line, late.body_line, late.end_line })
    local last = doc.headings[i + 1]
    assert.are.same({ expect[i], line - 1 }, { last.line, last.end_line })
    assert.are.same({ expect[i] + 4, expect[i] + 7 }, { doc.code_blocks[i].line, doc.code_blocks[i].end_line })
    assert.is_true(ms < 10000, ("took %.0f ms"):format(ms))
  end)

  it("gives the same results when finalizers parse other documents in the middle of a parse", function()
    -- the collector runs at every allocation, and each finalizer parses a document of its
    -- own: nested parses on one thread, each in its own arena (src/md_arena.c)
    local inner = "# Inner\n\n```sh\necho hi\n```\n"
    local text = ("## A\n\ntext\n\n```lua\nx = 1\n```\n\n"):rep(300)
    local want = outline(assert(markdown.parse(text)))
    local nested, bad = 0, 0
    local function plant(n)
      for _ = 1, n do
        setmetatable({}, { __gc = function()
          local doc = markdown.parse(inner)
          nested = nested + 1
          if not doc or #doc.headings ~= 1 or doc.code_blocks[1].text ~= "echo hi\n" then bad = bad + 1 end
        end })
      end
    end
    collectgarbage("collect")
    collectgarbage("incremental", 1, 1000) -- a cycle at every allocation (pause 1%)
    local during = 0
    for _ = 1, 3 do
      collectgarbage("stop") -- planted garbage, collected only once the parse runs
      plant(200)
      collectgarbage("restart")
      local before = nested
      local doc = assert(markdown.parse(text))
      during = during + (nested - before)
      assert.are.same(want, outline(doc))
    end
    collectgarbage("incremental", 200, 100) -- Lua's defaults
    collectgarbage()
    assert.is_true(during > 0, "no finalizer ran during the parses")
    assert.are.equal(0, bad)
  end)

  it("refuses input over the cap and raises on misuse", function()
    local v, err = markdown.parse("# x\n", { max_bytes = 3 })
    assert.is_nil(v)
    assert.are.equal("markdown: input of 4 bytes is over the limit of 3 bytes (max_bytes)", err)
    v, err = markdown.to_html("# x\n", { max_bytes = 3 })
    assert.is_nil(v)
    assert.are.equal("markdown: input of 4 bytes is over the limit of 3 bytes (max_bytes)", err)
    assert.has_error(function() markdown.parse(nil) end)
    assert.has_error(function() markdown.to_html("x", { max_bytes = -1 }) end)
  end)

  it("survives invalid UTF-8 and renders valid UTF-8", function()
    local text = "# Bad \xff\xfe byte\n\ntext \xc3\x28 more \xe2\x82\n"
    local doc = assert(markdown.parse(text))
    assert.are.equal("Bad \xff\xfe byte", doc.headings[1].title)
    local html = assert(markdown.to_html(text))
    assert.is_not_nil(utf8.len(html))
    assert.matches("\xef\xbf\xbd", html) -- U+FFFD for each bad sequence
  end)

  it("reads NUL bytes as U+FFFD without losing lines", function()
    local doc = assert(markdown.parse("# A\0B\n\n```\nx\0y\n```\n## C\n"))
    assert.are.equal("A\xef\xbf\xbdB", doc.headings[1].title)
    assert.are.equal("x\xef\xbf\xbdy\n", doc.code_blocks[1].text)
    assert.are.same({ 3, 5 }, { doc.code_blocks[1].line, doc.code_blocks[1].end_line })
    assert.are.same({ "C", 6 }, { doc.headings[2].title, doc.headings[2].line })
  end)

  it("reads CRLF, CR and a BOM with the same lines as LF", function()
    local lf = "# Title\nbody\nmore\n## Sub\n```\ncode\n```\nend\n"
    local want = markdown.parse(lf)
    for _, text in ipairs({ "\xEF\xBB\xBF" .. lf:gsub("\n", "\r\n"), lf:gsub("\n", "\r"), "\xEF\xBB\xBF" .. lf }) do
      local doc = assert(markdown.parse(text))
      assert.are.same(outline(want), outline(doc))
      assert.are.equal("body\nmore\n## Sub\n```\ncode\n```\nend", doc.headings[1].text)
      assert.are.same(want.code_blocks, doc.code_blocks)
    end
  end)
end)

describe("markdown.to_html", function()
  it("renders CommonMark", function()
    assert.are.equal("<h1>Title</h1>\n<p>Some <em>text</em> and <code>code</code>.</p>\n",
      markdown.to_html("# Title\n\nSome *text* and `code`.\n"))
  end)

  it("suppresses raw HTML and dangerous links", function()
    local html = markdown.to_html(table.concat({
      "<script>alert(1)</script>", "",
      "<img src=x onerror=alert(2)>", "",
      "[a](javascript:alert(3)) [b](JAVASCRIPT:alert(4)) [c](vbscript:x) [d](data:text/html;base64,xx)",
      "![e](javascript:alert(5)) <a href=\"javascript:alert(6)\">f</a> [g](https://ok.example/)",
    }, "\n"))
    assert.is_nil(html:find("<script", 1, true))
    assert.is_nil(html:find("onerror", 1, true))
    assert.is_nil(html:lower():find("javascript:", 1, true))
    assert.is_nil(html:find("vbscript:", 1, true))
    assert.is_nil(html:find("data:text/html", 1, true))
    assert.matches("raw HTML omitted", html)
    assert.matches('<a href="">a</a>', html, 1, true)
    assert.matches('<a href="https://ok.example/">g</a>', html, 1, true)
  end)
end)
