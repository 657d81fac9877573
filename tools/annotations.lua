-- Checks the lua-language-server annotations of lua/plexauth (issue 11):
-- spec/annotations_spec.lua runs it; `lua5.4 tools/annotations.lua` (from
-- the top directory, with the module paths set as for busted) prints each
-- problem and exits 1 when there is any.
--
-- What it checks, in every .lua file under lua/plexauth:
-- * each annotation (`---@class`, `---@field`, `---@param`, `---@return`,
--   `---@type`, `---@alias`, `---@overload`) parses as lua-language-server
--   reads it, and every type it names is a built-in type, a generic of its
--   block, or a `---@class`/`---@alias` declared once somewhere;
-- * `---@field` lines follow a `---@class` in their comment block;
-- and for the public functions of the public modules (M.PUBLIC): every
-- `function T.f` or `function T:f` at the start of a line where T is the
-- module table or a table declared with `---@class` (f not starting with
-- `_`), and every function whose comment is an LDoc comment (`--- ...`):
-- * one `---@param` per formal parameter (`...` included), same names, same
--   order;
-- * `---@return` when the body returns a value, with at least as many values
--   as its longest `return` gives (a call or `...` at the end counts as
--   none), and none when it never returns one.
-- `M.exports` checks what modules export at run time: a function must be
-- one of those checked (or a `fun(...)` field of the table's class), any
-- other value a `---@field` of the table's class, a `---@type`d assignment,
-- or a table declared with `---@class`.
local M = {}

--- The modules whose functions are public (paths under lua/plexauth).
M.PUBLIC = {
  ["init.lua"] = true, ["errors.lua"] = true, ["response.lua"] = true, ["device.lua"] = true,
  ["account.lua"] = true, ["loop.lua"] = true, ["loops/init.lua"] = true, ["loops/luv.lua"] = true,
  ["loops/cqueues.lua"] = true, ["loops/copas.lua"] = true, ["loops/mpv.lua"] = true,
  ["loops/poll.lua"] = true,
}

local BUILTIN = {}
for name in string.gmatch("nil any boolean string number integer function table thread userdata "
                          .. "lightuserdata unknown self true false", "%S+") do
  BUILTIN[name] = true
end
M.BUILTIN = BUILTIN

-- Annotation text -----------------------------------------------------------

-- Tokens as lua-language-server's doc parser makes them: names (dots, `-`
-- and `*` allowed after the first character), integers, strings, `code`,
-- symbols; white space skipped; it stops at a character it cannot read.
local function doc_tokens(text)
  local toks, i, n = {}, 1, #text
  local function add(t, v) toks[#toks + 1] = { t = t, v = v } end
  while i <= n do
    local c = string.sub(text, i, i)
    local a, b = string.find(text, "^[ \t\v\f]+", i)
    if a then
      i = b + 1
    else
      local int = string.match(text, "^%-?%d+", i)
      if int and string.sub(text, i + #int, i + #int) ~= "." then
        add("integer", int)
        i = i + #int
      elseif string.find(c, "[%w_\128-\255]") then
        local name = string.match(text, "^[%w_\128-\255][%w_%.%*%-\128-\255]*", i)
        add("name", name)
        i = i + #name
      elseif c == '"' or c == "'" then
        local j = i + 1
        while j <= n and string.sub(text, j, j) ~= c do
          if string.sub(text, j, j) == "\\" then j = j + 1 end
          j = j + 1
        end
        add("string", string.sub(text, i + 1, j - 1))
        i = j + 1
      elseif c == "`" then
        local j = string.find(text, "`", i + 1, true) or n + 1
        add("code", string.sub(text, i + 1, j - 1))
        i = j + 1
      elseif string.find(text, "^%[=*%[", i) then
        local eq = string.match(text, "^%[(=*)%[", i)
        local close = "]" .. eq .. "]"
        local j = string.find(text, close, i, true)
        add("string", string.sub(text, i + #eq + 2, (j or n + 1) - 1))
        i = j and j + #close or n + 1
      elseif string.sub(text, i, i + 2) == "..." then
        add("symbol", "...")
        i = i + 3
      elseif string.sub(text, i, i + 1) == "[]" then
        add("symbol", "[]")
        i = i + 2
      elseif string.find(c, "[:|,;<>()?+#{}%[%]]") or (c == "-" and string.sub(text, i + 1, i + 1) ~= "-") then
        add("symbol", c)
        i = i + 1
      else
        break
      end
    end
  end
  return toks
end

-- A parse of one annotation: `st.toks`, `st.i` (last token consumed),
-- `st.refs` (type names used), `st.err`.
local function peek(st, k) return st.toks[st.i + (k or 1)] end
local function is(st, t, v, k)
  local x = peek(st, k)
  return x ~= nil and x.t == t and (v == nil or x.v == v)
end
local function take(st) st.i = st.i + 1; return st.toks[st.i] end
local function fail(st, msg) st.err = st.err or msg; return false end
local function expect(st, sym)
  if is(st, "symbol", sym) then take(st); return true end
  return fail(st, "expected `" .. sym .. "`")
end

local parse_type

local function parse_fun(st)
  if not expect(st, "(") then return false end
  while not is(st, "symbol", ")") do
    if not (is(st, "name") or is(st, "symbol", "...")) then return fail(st, "fun: expected an argument name") end
    take(st)
    if is(st, "symbol", "?") then take(st) end
    if is(st, "symbol", ":") then
      take(st)
      if not parse_type(st) then return fail(st, "fun: expected an argument type") end
    end
    if not is(st, "symbol", ",") then break end
    take(st)
  end
  if not expect(st, ")") then return false end
  if is(st, "symbol", ":") then
    take(st)
    local paren = is(st, "symbol", "(")
    if paren then take(st) end
    repeat
      if (is(st, "name") or is(st, "symbol", "...")) and is(st, "symbol", ":", 2) then take(st); take(st) end
      if not parse_type(st) then return fail(st, "fun: expected a return type") end
      local more = is(st, "symbol", ",")
      if more then take(st) end
    until not more
    if paren and not expect(st, ")") then return false end
  end
  return true
end

local function parse_table(st)
  while not is(st, "symbol", "}") do
    local paren = is(st, "symbol", "(")
    if paren then take(st) end
    if is(st, "name") then
      take(st)
    elseif is(st, "symbol", "[") then
      take(st)
      if is(st, "name") then
        if not parse_type(st) then return false end
      else
        take(st)
      end
      if not expect(st, "]") then return false end
    else
      return fail(st, "table: expected a field name")
    end
    if is(st, "symbol", "?") then take(st) end
    if not expect(st, ":") then return false end
    if not parse_type(st) then return fail(st, "table: expected a field type") end
    if paren and not expect(st, ")") then return false end
    if not (is(st, "symbol", ",") or is(st, "symbol", ";")) then break end
    take(st)
  end
  return expect(st, "}")
end

local function parse_unit(st)
  local x = peek(st)
  if not x then return false end
  if x.t == "name" and (x.v == "fun" or (x.v == "async" and is(st, "name", "fun", 2))) then
    if x.v == "async" then take(st) end
    take(st)
    if not parse_fun(st) then return false end
  elseif x.t == "symbol" and x.v == "{" then
    take(st)
    if not parse_table(st) then return false end
  elseif x.t == "string" or x.t == "code" or x.t == "integer" then
    take(st)
  elseif x.t == "symbol" and x.v == "(" then
    take(st)
    if not parse_type(st) then return fail(st, "expected a type in ( )") end
    if not expect(st, ")") then return false end
  elseif x.t == "name" then
    take(st)
    if not BUILTIN[x.v] then st.refs[#st.refs + 1] = x.v end
  elseif x.t == "symbol" and x.v == "..." then
    take(st)
  else
    return false
  end
  if is(st, "symbol", "<") then
    take(st)
    repeat
      if not parse_type(st) then return fail(st, "expected a type in < >") end
      local more = is(st, "symbol", ",")
      if more then take(st) end
    until not more
    if not expect(st, ">") then return false end
  end
  while is(st, "symbol", "[]") do take(st) end
  return true
end

-- type ::= unit { "|" unit } [ "?" ]
parse_type = function(st)
  if not parse_unit(st) then return false end
  while is(st, "symbol", "|") do
    take(st)
    if not parse_unit(st) then return fail(st, "expected a type after `|`") end
  end
  if is(st, "symbol", "?") then take(st) end
  return true
end

local TAGS = { class = true, field = true, param = true, ["return"] = true, type = true, alias = true,
               overload = true, generic = true }

--- Parses the text after `---@tag` (and, for an alias, its `---|` lines).
-- @return a table: `tag`, `refs`, `err`, and `name` (class, alias, field,
--   param, generic: the names it declares in `names`), `optional`,
--   `returns` (for `return`: how many values)
function M.parse_annotation(tag, text, continuation)
  local st = { toks = doc_tokens(text), i = 0, refs = {} }
  local r = { tag = tag, refs = st.refs, names = {} }
  if tag == "class" or tag == "alias" then
    if not is(st, "name") then
      r.err = "expected a name"
      return r
    end
    r.name = take(st).v
    if is(st, "symbol", "<") then
      take(st)
      repeat
        if not is(st, "name") then fail(st, "expected a generic name"); break end
        r.names[#r.names + 1] = take(st).v
        local more = is(st, "symbol", ",")
        if more then take(st) end
      until not more
      expect(st, ">")
    end
    if tag == "class" and is(st, "symbol", ":") then
      take(st)
      repeat
        if is(st, "name") then
          st.refs[#st.refs + 1] = take(st).v
        elseif is(st, "symbol", "{") then
          take(st)
          parse_table(st)
        else
          fail(st, "expected a parent class")
          break
        end
        local more = is(st, "symbol", ",")
        if more then take(st) end
      until not more
    elseif tag == "alias" then
      local units = parse_type(st) and 1 or 0
      for _, line in ipairs(continuation or {}) do
        local c = { toks = doc_tokens(line), i = 0, refs = st.refs }
        if is(c, "symbol", ">") or is(c, "symbol", "+") then take(c) end
        if parse_unit(c) then units = units + 1 else fail(st, c.err or ("cannot read `---|" .. line .. "`")) end
      end
      if units == 0 then fail(st, "alias: expected a type") end
    end
  elseif tag == "field" then
    if is(st, "name") then
      r.name = take(st).v
    elseif is(st, "symbol", "[") then
      take(st)
      if is(st, "name") then parse_type(st) else take(st) end
      expect(st, "]")
    else
      fail(st, "field: expected a name")
    end
    if is(st, "symbol", "?") then take(st); r.optional = true end
    if not st.err and not parse_type(st) then fail(st, "field: expected a type") end
  elseif tag == "param" then
    if is(st, "name") or is(st, "symbol", "...") then
      r.name = take(st).v
      if is(st, "symbol", "?") then take(st); r.optional = true end
      if not parse_type(st) then fail(st, "param: expected a type") end
    else
      fail(st, "param: expected a name")
    end
  elseif tag == "return" then
    r.returns = 0
    repeat
      if not parse_type(st) then fail(st, "return: expected a type"); break end
      r.returns = r.returns + 1
      if is(st, "symbol", "?") then take(st) end
      if is(st, "name") or is(st, "symbol", "...") then take(st) end
      local more = is(st, "symbol", ",")
      if more then take(st) end
    until not more
  elseif tag == "type" then
    repeat
      if not parse_type(st) then fail(st, "type: expected a type"); break end
      local more = is(st, "symbol", ",")
      if more then take(st) end
    until not more
  elseif tag == "overload" then
    if not is(st, "name", "fun") and not is(st, "name", "async") then
      fail(st, "overload: expected fun(...)")
    elseif not parse_unit(st) then
      fail(st, "overload: cannot read the fun(...) type")
    end
  elseif tag == "generic" then
    repeat
      if not is(st, "name") then fail(st, "generic: expected a name"); break end
      r.names[#r.names + 1] = take(st).v
      if is(st, "symbol", ":") then take(st); parse_type(st) end
      local more = is(st, "symbol", ",")
      if more then take(st) end
    until not more
  end
  r.err = st.err
  return r
end

-- Lua source ----------------------------------------------------------------

-- Tokens of Lua source: `{t = "name"|"keyword"|"string"|"number"|"symbol", v, line}`.
local KEYWORDS = {}
for k in string.gmatch("and break do else elseif end false for function goto if in local nil not or "
                       .. "repeat return then true until while", "%S+") do
  KEYWORDS[k] = true
end

local function lua_tokens(src)
  local toks, i, n, line = {}, 1, #src, 1
  local function count_lines(a, b)
    local _, k = string.gsub(string.sub(src, a, b), "\n", "")
    line = line + k
  end
  local function long_bracket(at)
    local eq = string.match(src, "^%[(=*)%[", at)
    if not eq then return nil end
    local _, e = string.find(src, "]" .. eq .. "]", at, true)
    return e or n
  end
  while i <= n do
    local c = string.sub(src, i, i)
    if c == "\n" then
      line = line + 1
      i = i + 1
    elseif string.find(c, "%s") then
      i = i + 1
    elseif string.sub(src, i, i + 1) == "--" then
      local e = long_bracket(i + 2)
      if not e then e = (string.find(src, "\n", i, true) or n + 1) - 1 end
      count_lines(i, e)
      i = e + 1
    elseif c == '"' or c == "'" then
      local j = i + 1
      while j <= n do
        local d = string.sub(src, j, j)
        if d == "\\" then j = j + 1 elseif d == c or d == "\n" then break end
        j = j + 1
      end
      toks[#toks + 1] = { t = "string", v = string.sub(src, i, j), line = line }
      count_lines(i, j)
      i = j + 1
    elseif long_bracket(i) then
      local e = long_bracket(i)
      toks[#toks + 1] = { t = "string", v = string.sub(src, i, e), line = line }
      count_lines(i, e)
      i = e + 1
    elseif string.find(c, "[%a_]") then
      local w = string.match(src, "^[%w_]+", i)
      toks[#toks + 1] = { t = KEYWORDS[w] and "keyword" or "name", v = w, line = line }
      i = i + #w
    elseif string.find(src, "^%.?%d", i) then
      local num = string.match(src, "^%.?%d[%w%.]*", i)
      local j = i + #num
      while string.find(string.sub(num, -1), "[eEpP]") and string.find(string.sub(src, j, j), "[%+%-]") do
        local more = string.match(src, "^[%+%-][%w%.]*", j)
        num, j = num .. more, j + #more
      end
      toks[#toks + 1] = { t = "number", v = num, line = line }
      i = j
    else
      local sym = string.match(src, "^%.%.%.", i) or string.match(src, "^%.%.", i) or string.match(src, "^::", i)
                  or string.match(src, "^[=~<>]=", i) or string.match(src, "^//", i)
                  or string.match(src, "^<<", i) or string.match(src, "^>>", i) or c
      toks[#toks + 1] = { t = "symbol", v = sym, line = line }
      i = i + #sym
    end
  end
  return toks
end

local CLOSERS = { ["end"] = true, ["else"] = true, ["elseif"] = true, ["until"] = true }

-- How many values the return statement at toks[k] (the `return`) gives at
-- least (a call or `...` at the end counts as none), and whether it gives any.
local function return_count(toks, k)
  local first = toks[k + 1]
  if not first or (first.t == "keyword" and CLOSERS[first.v]) or (first.t == "symbol" and first.v == ";") then
    return 0, false
  end
  local depth, fdepth, count, j = 0, 0, 1, k + 1
  local last, open_of = nil, {}
  local stack = {}
  while toks[j] do
    local x = toks[j]
    if depth == 0 and fdepth == 0 and ((x.t == "keyword" and CLOSERS[x.v]) or (x.t == "symbol" and x.v == ";")) then
      break
    end
    if x.t == "keyword" and x.v == "function" then
      fdepth = fdepth + 1
    elseif fdepth > 0 and x.t == "keyword" and (x.v == "if" or x.v == "do" or x.v == "repeat") then
      fdepth = fdepth + 1
    elseif fdepth > 0 and x.t == "keyword" and (x.v == "end" or x.v == "until") then
      fdepth = fdepth - 1
    elseif fdepth == 0 and x.t == "symbol" and (x.v == "(" or x.v == "{" or x.v == "[") then
      depth = depth + 1
      stack[#stack + 1] = j
    elseif fdepth == 0 and x.t == "symbol" and (x.v == ")" or x.v == "}" or x.v == "]") then
      depth = depth - 1
      open_of[j] = table.remove(stack)
    elseif depth == 0 and fdepth == 0 and x.t == "symbol" and x.v == "," then
      count = count + 1
    end
    last = j
    j = j + 1
  end
  local multi = false
  local lx = last and toks[last]
  if lx and lx.t == "symbol" and lx.v == "..." then
    multi = true
  elseif lx and lx.t == "string" then
    local before = toks[last - 1]
    multi = before ~= nil and (before.t == "name" or (before.t == "symbol" and (before.v == ")" or before.v == "]")))
  elseif lx and lx.t == "symbol" and (lx.v == ")" or lx.v == "}") and open_of[last] then
    local before = toks[open_of[last] - 1]
    multi = open_of[last] > k + 1 -- not `return (...)` or `return {...}`
            and (before.t == "name" or before.t == "string"
                 or (before.t == "symbol" and (before.v == ")" or before.v == "]" or before.v == "}")))
  end
  return multi and count - 1 or count, true
end

-- The functions of a chunk: `{line, name, method, params, value_return,
-- min_returns}`, name nil for an anonymous one.
local function functions_of(src)
  local toks = lua_tokens(src)
  local list, stack = {}, {}
  for k, x in ipairs(toks) do
    if x.t == "keyword" then
      if x.v == "function" then
        local fn = { line = x.line, params = {}, min_returns = 0, value_return = false }
        local j = k + 1
        if toks[j] and toks[j].t == "name" then
          local parts = { toks[j].v }
          j = j + 1
          while toks[j] and toks[j].t == "symbol" and (toks[j].v == "." or toks[j].v == ":")
                and toks[j + 1] and toks[j + 1].t == "name" do
            if toks[j].v == ":" then fn.method = true end
            parts[#parts + 1] = toks[j].v .. toks[j + 1].v
            j = j + 2
          end
          fn.name = table.concat(parts)
          fn.is_local = toks[k - 1] ~= nil and toks[k - 1].t == "keyword" and toks[k - 1].v == "local"
        end
        if toks[j] and toks[j].v == "(" then
          j = j + 1
          while toks[j] and toks[j].v ~= ")" do
            if toks[j].t == "name" or toks[j].v == "..." then fn.params[#fn.params + 1] = toks[j].v end
            j = j + 1
          end
        end
        list[#list + 1] = fn
        stack[#stack + 1] = fn
      elseif x.v == "if" or x.v == "do" or x.v == "repeat" then
        stack[#stack + 1] = false
      elseif x.v == "end" or x.v == "until" then
        table.remove(stack)
      elseif x.v == "return" then
        local fn
        for s = #stack, 1, -1 do
          if stack[s] then fn = stack[s]; break end
        end
        if fn then
          local count, value = return_count(toks, k)
          if value then fn.value_return = true end
          if count > fn.min_returns then fn.min_returns = count end
        end
      end
    end
  end
  return list
end

-- One file ------------------------------------------------------------------

local function split_lines(text)
  local lines = {}
  for l in string.gmatch(text .. (string.sub(text, -1) == "\n" and "" or "\n"), "([^\n]*)\n") do
    lines[#lines + 1] = l
  end
  return lines
end

local function is_comment(l) return string.find(l, "^%s*%-%-") ~= nil end

-- The comment block right above `line`: its first line number (or `line`).
local function block_start(lines, line)
  local s = line
  while s > 1 and is_comment(lines[s - 1]) do s = s - 1 end
  return s
end

--- Scans a source file. `path` is relative to lua/plexauth (`init.lua`,
-- `loops/poll.lua`). Returns a record with `annotations` (each with `line`
-- and the parse), `declared` (name -> line), `functions`, `classes` (local
-- name -> class), `fields` (class -> set of field names), `lines`.
function M.scan(path, text)
  local f = { path = path, lines = split_lines(text), annotations = {}, declared = {}, classes = {},
              fields = {}, generics = {} }
  local lines = f.lines
  local class, block_generics = nil, {}
  for i, l in ipairs(lines) do
    if not is_comment(l) then
      local var = string.match(l, "^local%s+([%w_]+)%s*=")
      if var and class then f.classes[var] = class end
      class, block_generics = nil, {}
    end
    local tag, rest = string.match(l, "^%s*%-%-%-@(%w+)%s*(.*)$")
    if tag and TAGS[tag] then
      local cont = {}
      if tag == "alias" then
        local j = i + 1
        while lines[j] and string.find(lines[j], "^%s*%-%-%-|") do
          local unit = string.match(lines[j], "^%s*%-%-%-|%s*(.-)%s*$")
          cont[#cont + 1] = string.match(unit, "^(.-)%s*#") or unit
          j = j + 1
        end
      end
      local a = M.parse_annotation(tag, rest, cont)
      a.line = i
      f.annotations[#f.annotations + 1] = a
      if tag == "class" or tag == "generic" then
        for _, g in ipairs(a.names) do block_generics[g] = true end
      end
      a.generics = block_generics
      if (tag == "class" or tag == "alias") and a.name then
        if f.declared[a.name] then
          a.err = a.err or string.format("%s declared twice in this file (line %d)", a.name, f.declared[a.name])
        end
        f.declared[a.name] = i
      end
      if tag == "class" then
        class = a.name
        f.fields[class] = f.fields[class] or {}
      elseif tag == "field" then
        if not class then
          a.err = a.err or "---@field outside a ---@class block"
        elseif a.name then
          f.fields[class][a.name] = true
        end
      end
    end
  end
  f.functions = functions_of(text)
  for _, fn in ipairs(f.functions) do
    local s = block_start(lines, fn.line)
    fn.doc = {}
    for i = s, fn.line - 1 do
      local tag, rest = string.match(lines[i], "^%s*%-%-%-@(%w+)%s*(.*)$")
      if tag then fn.doc[#fn.doc + 1] = { tag = tag, text = rest, line = i } end
    end
    fn.ldoc = s < fn.line and string.find(lines[s], "^%s*%-%-%-") ~= nil
              and not string.find(lines[s], "^%s*%-%-%-@") and not string.find(lines[s], "^%s*%-%-%-|")
    fn.column0 = string.find(lines[fn.line], "^function") ~= nil
  end
  return f
end

-- Whether `fn` of file `f` is one of the checked public functions.
local function public(f, fn)
  if not M.PUBLIC[f.path] or not fn.name or fn.is_local then return false end
  local tbl, key = string.match(fn.name, "^([%w_]+)[%.:]([%w_]+)$")
  if fn.column0 and tbl and (tbl == "M" or f.classes[tbl]) and not string.find(key, "^_") then return true end
  return fn.ldoc and string.find(fn.name, "[%.:]") ~= nil
end

--- The problems of function `fn` of file `f` (a list of strings).
function M.check_function(f, fn)
  local out = {}
  local where = string.format("%s:%d: %s", f.path, fn.line, fn.name or "function")
  local params, returns = {}, 0
  for _, d in ipairs(fn.doc) do
    if d.tag == "param" then
      local a = M.parse_annotation("param", d.text)
      params[#params + 1] = a.name or "?"
    elseif d.tag == "return" then
      returns = returns + (M.parse_annotation("return", d.text).returns or 0)
    end
  end
  local formal = table.concat(fn.params, ", ")
  local documented = table.concat(params, ", ")
  if formal ~= documented then
    local have = {}
    for _, p in ipairs(params) do have[p] = true end
    local known = {}
    for _, p in ipairs(fn.params) do
      known[p] = true
      if not have[p] then out[#out + 1] = string.format("%s: no ---@param for `%s`", where, p) end
    end
    for _, p in ipairs(params) do
      if not known[p] then
        out[#out + 1] = string.format("%s: ---@param `%s` names no parameter (parameters: %s)", where, p,
                                      formal == "" and "none" or formal)
      end
    end
    if #out == 0 then
      out[#out + 1] = string.format("%s: ---@param order (%s) is not the parameters' (%s)", where, documented, formal)
    end
  end
  if fn.value_return and returns == 0 then
    out[#out + 1] = string.format("%s: returns a value but has no ---@return", where)
  elseif not fn.value_return and returns > 0 then
    out[#out + 1] = string.format("%s: has ---@return but returns no value", where)
  elseif returns < fn.min_returns then
    out[#out + 1] = string.format("%s: returns %d values but ---@return gives %d", where, fn.min_returns, returns)
  end
  return out
end

--- The declared class and alias names of `files` (name -> "path:line"),
-- and the problems of names declared in more than one file.
function M.declarations(files)
  local declared, out = {}, {}
  for _, f in ipairs(files) do
    for name, line in pairs(f.declared) do
      local here = f.path .. ":" .. line
      if declared[name] then
        out[#out + 1] = string.format("%s: %s is declared already at %s", here, name, declared[name])
      else
        declared[name] = here
      end
    end
  end
  table.sort(out)
  return declared, out
end

--- The problems of file `f` given `declared` (from `M.declarations`):
-- annotations that do not parse or name an undeclared type, and public
-- functions whose annotations are missing or wrong.
function M.check_file(f, declared)
  local out = {}
  for _, a in ipairs(f.annotations) do
    if a.err then out[#out + 1] = string.format("%s:%d: ---@%s: %s", f.path, a.line, a.tag, a.err) end
    for _, ref in ipairs(a.refs) do
      if not declared[ref] and not a.generics[ref] then
        out[#out + 1] = string.format("%s:%d: ---@%s: type %s is declared nowhere", f.path, a.line, a.tag, ref)
      end
    end
  end
  for _, fn in ipairs(f.functions) do
    if public(f, fn) then
      for _, p in ipairs(M.check_function(f, fn)) do out[#out + 1] = p end
    end
  end
  return out
end

--- How many public functions `f` has.
function M.count_public(f)
  local n = 0
  for _, fn in ipairs(f.functions) do if public(f, fn) then n = n + 1 end end
  return n
end

--- Reads and scans every .lua file under `root`/lua/plexauth.
function M.scan_tree(root)
  root = root or "."
  local dir = root .. "/lua/plexauth"
  local p = assert(io.popen("cd '" .. dir .. "' && find . -name '*.lua' | LC_ALL=C sort"))
  local files = {}
  for rel in p:lines() do
    rel = string.gsub(rel, "^%./", "")
    local h = assert(io.open(dir .. "/" .. rel, "rb"))
    files[#files + 1] = M.scan(rel, h:read("*a"))
    h:close()
  end
  p:close()
  return files
end

--- Every problem of `files` (static checks only).
function M.check(files)
  local declared, out = M.declarations(files)
  for _, f in ipairs(files) do
    for _, p in ipairs(M.check_file(f, declared)) do out[#out + 1] = p end
  end
  return out
end

-- Exports -------------------------------------------------------------------

local function by_path(files)
  local t = {}
  for _, f in ipairs(files) do t[f.path] = f end
  return t
end

-- Whether the assignment `var.key = ...` in `f` has a `---@type`, or assigns
-- a local declared with `---@class`.
local function typed_assignment(f, var, key)
  for i, l in ipairs(f.lines) do
    local lhs, rhs = string.match(l, "^([%w_%.,%s]-)%s*=%s*([^=].-)%s*$")
    if lhs and string.find(lhs, "^" .. var .. "%.") then
      local targets, values = {}, {}
      for x in string.gmatch(lhs, "[^,%s]+") do targets[#targets + 1] = x end
      for x in string.gmatch(rhs, "[^,]+") do values[#values + 1] = string.match(x, "^%s*(.-)%s*$") end
      for n, target in ipairs(targets) do
        if target == var .. "." .. key then
          if f.classes[values[n] or ""] then return true end
          for s = block_start(f.lines, i), i - 1 do
            if string.find(f.lines[s], "^%s*%-%-%-@type%s") then return true end
          end
        end
      end
    end
  end
  return false
end

--- Checks what tables export at run time. `entries` lists `{label=, value=
-- the table, path= its file under lua/plexauth, var= its local name there,
-- functions_only= true for an instance (its data is not checked)}`.
function M.exports(files, entries)
  local out = {}
  local files_by = by_path(files)
  local function fields_of(f, var)
    local class = f.classes[var]
    local set = {}
    for _, g in ipairs(files) do
      for name in pairs(g.fields[class or ""] or {}) do set[name] = true end
    end
    return set, class
  end
  for _, e in ipairs(entries) do
    local f = files_by[e.path]
    local fields, class = fields_of(f, e.var)
    local keys = {}
    for k in pairs(e.value) do if type(k) == "string" then keys[#keys + 1] = k end end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = rawget(e.value, k)
      local what = e.label .. "." .. k
      if string.find(k, "^__") or (e.functions_only and type(v) ~= "function") then -- luacheck: ignore 542
        -- metamethods and __name; an instance's data
      elseif type(v) == "function" then
        if not string.find(k, "^_") then
          local info = debug.getinfo(v, "S")
          local rel = info.source and string.match(info.source, "plexauth/(.+%.lua)$")
          local g = rel and files_by[rel]
          local fn
          for _, x in ipairs(g and g.functions or {}) do
            if x.line == info.linedefined then fn = x end
          end
          if not fn then
            out[#out + 1] = string.format("%s: function defined in no file of lua/plexauth (%s:%s)", what,
                                          tostring(info.source), tostring(info.linedefined))
          elseif fn.name then
            for _, p in ipairs(M.check_function(g, fn)) do out[#out + 1] = what .. ": " .. p end
          elseif not fields[k] then
            out[#out + 1] = string.format("%s: an anonymous function (%s:%d) and no ---@field %s of %s", what,
                                          rel, fn.line, k, class or ("the class of " .. e.var))
          end
        end
      elseif not fields[k] and not typed_assignment(f, e.var, k) then
        out[#out + 1] = string.format("%s: a %s with neither a ---@field of %s nor a ---@type", what, type(v),
                                      class or (e.var .. ", which has no ---@class"))
      end
    end
  end
  return out
end

--- The tables `M.exports` checks, loaded with `require`: the public modules
-- and the classes they export. Modules that cannot be loaded (a host
-- library missing) are left out and named in the second result.
function M.default_entries()
  local entries, skipped = {}, {}
  local function add(label, path, var, get)
    local ok, v = pcall(get)
    if ok and type(v) == "table" then
      entries[#entries + 1] = { label = label, path = path, var = var, value = v }
    else
      skipped[#skipped + 1] = label
    end
  end
  add("plexauth", "init.lua", "M", function()
    local p = require("plexauth")
    local _ = p.loops -- loaded on first use
    return p
  end)
  add("plexauth.Client", "init.lua", "Client", function() return require("plexauth").Client end)
  add("plexauth.errors", "errors.lua", "M", function() return require("plexauth.errors") end)
  add("plexauth.response", "response.lua", "Response", function() return require("plexauth.response") end)
  add("plexauth.device", "device.lua", "M", function() return require("plexauth.device") end)
  add("plexauth.account", "account.lua", "M", function() return require("plexauth.account") end)
  add("plexauth.Account", "account.lua", "Account", function() return require("plexauth.account").Account end)
  add("plexauth.loop", "loop.lua", "M", function() return require("plexauth.loop") end)
  add("plexauth.Loop", "loop.lua", "Loop", function() return require("plexauth.loop").Loop end)
  add("plexauth.Task", "loop.lua", "Task", function() return require("plexauth.loop").Task end)
  add("plexauth.Pump", "loop.lua", "Pump", function() return require("plexauth.loop").Pump end)
  add("plexauth.loops", "loops/init.lua", "M", function() return require("plexauth.loops") end)
  for _, name in ipairs({ "luv", "cqueues", "copas", "mpv", "poll" }) do
    add("plexauth.loops." .. name, "loops/" .. name .. ".lua", "M", function()
      return require("plexauth.loops." .. name)
    end)
  end
  add("poll loop", "loops/poll.lua", "self", function() return require("plexauth.loops").poll() end)
  entries[#entries].functions_only = true
  return entries, skipped
end

-- Command line --------------------------------------------------------------

local function main(root)
  local files = M.scan_tree(root)
  local problems = M.check(files)
  local entries, skipped = M.default_entries()
  for _, p in ipairs(M.exports(files, entries)) do problems[#problems + 1] = p end
  local nfun, nann = 0, 0
  for _, f in ipairs(files) do
    nfun = nfun + M.count_public(f)
    nann = nann + #f.annotations
  end
  for _, p in ipairs(problems) do io.stderr:write(p, "\n") end
  if #skipped > 0 then io.stderr:write("not loaded (exports not checked): ", table.concat(skipped, ", "), "\n") end
  print(string.format("annotations: %d public functions, %d annotations, %d exported tables, %d problems",
                      nfun, nann, #entries, #problems))
  return #problems == 0
end

if arg and arg[0] and string.find(arg[0], "annotations%.lua$") and not package.loaded["busted"] then
  os.exit(main(arg[1]) and 0 or 1)
end

return M
