-- The lua-language-server annotations of lua/plexauth (issue 11), checked
-- by tools/annotations.lua: they parse, name only declared classes, and
-- every public function has a `---@param` per parameter and `---@return`
-- where it returns; what the modules export is annotated. Then the checker
-- itself: it must notice each annotation deleted or renamed.
local A = dofile("tools/annotations.lua")

local load_chunk = loadstring or load -- luacheck: ignore 113

local function listing(problems)
  return #problems .. " problem(s):\n  " .. table.concat(problems, "\n  ")
end

-- The lines of a file without line `n` (or with it replaced by `with`).
local function edited(f, n, with)
  local out = {}
  for i, l in ipairs(f.lines) do
    if i ~= n then out[#out + 1] = l elseif with then out[#out + 1] = with end
  end
  return table.concat(out, "\n") .. "\n"
end

-- Problems of one file as `text` among the other files.
local function problems_with(files, f, text)
  local g = A.scan(f.path, text)
  local others = {}
  for _, x in ipairs(files) do others[#others + 1] = x == f and g or x end
  local declared = A.declarations(others)
  return A.check_file(g, declared)
end

local function mentions(problems, s)
  for _, p in ipairs(problems) do
    if string.find(p, s, 1, true) then return true end
  end
  return false
end

-- The public functions of `files` with their file, and their annotation lines.
local function public_functions(files)
  local list = {}
  for _, f in ipairs(files) do
    for _, fn in ipairs(f.functions) do
      if A.count_public({ path = f.path, functions = { fn }, classes = f.classes }) == 1 then
        list[#list + 1] = { f = f, fn = fn }
      end
    end
  end
  return list
end

describe("annotations", function()
  local files = A.scan_tree(".")

  it("cover the public modules", function()
    local n = 0
    for _, f in ipairs(files) do n = n + A.count_public(f) end
    assert.is_true(n >= 50, "only " .. n .. " public functions found")
  end)

  it("parse, name declared types only, and fit every public function", function()
    local problems = A.check(files)
    assert.are.equal(0, #problems, listing(problems))
  end)

  it("cover what the modules export", function()
    local entries, skipped = A.default_entries()
    for _, label in ipairs(skipped) do
      assert.are.equal("plexauth.loops.cqueues", label, label .. " could not be loaded")
    end
    assert.is_true(#entries >= 17)
    -- In a child process: a busted helper (the secrecy suite's) may have
    -- wrapped exported functions in this one.
    local util = require("spec.support.util")
    local p = assert(io.popen(util.env_prefix() .. " " .. util.LUA .. " tools/annotations.lua 2>&1"))
    local out = p:read("*a")
    p:close()
    assert.matches("%d+ exported tables, 0 problems", out)
    assert.is_truthy(tonumber(out:match("(%d+) exported tables")) >= 17, out)
  end)

  it("declare the classes of the contract", function()
    local declared = A.declarations(files)
    for _, name in ipairs({ "plexauth", "plexauth.Options", "plexauth.Client", "plexauth.Request",
                            "plexauth.Response", "plexauth.Device", "plexauth.Connection", "plexauth.Hooks",
                            "plexauth.HookContext", "plexauth.HookRequest", "plexauth.Retries",
                            "plexauth.errors", "plexauth.Error", "plexauth.ArgumentError",
                            "plexauth.TransportError", "plexauth.TransportReason", "plexauth.APIError",
                            "plexauth.Unauthorized", "plexauth.DecodeError", "plexauth.TwoFactorRequired",
                            "plexauth.PinExpired", "plexauth.Account", "plexauth.AccountOptions", "plexauth.Pin",
                            "plexauth.User", "plexauth.Resource", "plexauth.loops", "plexauth.Loop",
                            "plexauth.Task", "plexauth.PollLoop" }) do
      assert.is_not_nil(declared[name], name .. " is not declared")
    end
  end)
end)

describe("the annotation checker", function()
  local files = A.scan_tree(".")
  local publics = public_functions(files)

  it("notices each ---@param deleted or renamed", function()
    local tried = 0
    for _, p in ipairs(publics) do
      for _, d in ipairs(p.fn.doc) do
        if d.tag == "param" then
          tried = tried + 1
          local text = edited(p.f, d.line)
          assert.is_true(mentions(problems_with(files, p.f, text), "no ---@param"),
                         p.f.path .. ":" .. d.line .. " deleted, unnoticed")
          local line = p.f.lines[d.line]
          local renamed = string.gsub(line, "(@param%s+)([%w_]+)", "%1%2_x", 1)
          if string.find(line, "@param%s+%.%.%.") then renamed = string.gsub(line, "%.%.%.", "rest", 1) end
          text = edited(p.f, d.line, renamed)
          assert.is_true(mentions(problems_with(files, p.f, text), "names no parameter"),
                         p.f.path .. ":" .. d.line .. " renamed, unnoticed")
        end
      end
    end
    assert.is_true(tried >= 50, tried .. " ---@param lines tried")
  end)

  it("notices a ---@return deleted from a function that returns", function()
    local tried = 0
    for _, p in ipairs(publics) do
      local returns = {}
      for _, d in ipairs(p.fn.doc) do
        if d.tag == "return" then returns[#returns + 1] = d end
      end
      for _, d in ipairs(returns) do
        if #returns == 1 or p.fn.min_returns >= #returns then
          tried = tried + 1
          local problems = problems_with(files, p.f, edited(p.f, d.line))
          assert.is_true(#problems > 0, p.f.path .. ":" .. d.line .. " deleted, unnoticed")
        end
      end
    end
    assert.is_true(tried >= 30, tried .. " ---@return lines tried")
  end)

  it("notices each ---@class deleted that an annotation names", function()
    local named = {}
    for _, f in ipairs(files) do
      for _, a in ipairs(f.annotations) do
        for _, r in ipairs(a.refs) do named[r] = true end
      end
    end
    local tried = 0
    for _, f in ipairs(files) do
      for _, a in ipairs(f.annotations) do
        if (a.tag == "class" or a.tag == "alias") and named[a.name] then
          tried = tried + 1
          local others = {}
          for _, x in ipairs(files) do others[#others + 1] = x == f and A.scan(f.path, edited(f, a.line)) or x end
          assert.is_true(mentions(A.check(others), "type " .. a.name .. " is declared nowhere"),
                         a.name .. " deleted, unnoticed")
        end
      end
    end
    assert.is_true(tried >= 25, tried .. " classes tried")
  end)

  local function check(text)
    local f = A.scan("init.lua", text)
    local declared = A.declarations({ f })
    return A.check_file(f, declared), f
  end

  it("checks parameters in order, vararg and returns", function()
    local problems = check([[
local M = {}
---@param b string
---@param a string
---@return string
function M.swapped(a, b) return a .. b end
---@param x integer
function M.vararg(x, ...) return x, ... end
---@return integer
function M.nothing() end
---@param n integer
---@return integer
function M.two(n) if n then return n, n + 1 end end
function M._private(a) return a end
local function helper(a) return a end
local T = {}
function T.unlisted(a) return helper(a) end
return M
]])
    assert.is_true(mentions(problems, "M.swapped: ---@param order (b, a) is not the parameters' (a, b)"),
                   listing(problems))
    assert.is_true(mentions(problems, "M.vararg: no ---@param for `...`"), listing(problems))
    assert.is_true(mentions(problems, "M.vararg: returns a value but has no ---@return"), listing(problems))
    assert.is_true(mentions(problems, "M.nothing: has ---@return but returns no value"), listing(problems))
    assert.is_true(mentions(problems, "M.two: returns 2 values but ---@return gives 1"), listing(problems))
    assert.is_false(mentions(problems, "_private"), listing(problems))
    assert.is_false(mentions(problems, "unlisted"), listing(problems))
    assert.are.equal(5, #problems, listing(problems))
  end)

  it("checks the methods of tables declared with ---@class, and LDoc-commented functions", function()
    local problems = check([[
local M = {}
---@class demo.Thing
local Thing = {}
function Thing:size(unit) return unit end
function M.make()
  local t = {}
  --- Grows it.
  function t.grow(by) t.by = by end
  return t
end
return M
]])
    assert.is_true(mentions(problems, "Thing:size: no ---@param for `unit`"), listing(problems))
    assert.is_true(mentions(problems, "Thing:size: returns a value"), listing(problems))
    assert.is_true(mentions(problems, "M.make: returns a value"), listing(problems))
    assert.is_true(mentions(problems, "t.grow: no ---@param for `by`"), listing(problems))
    assert.are.equal(4, #problems, listing(problems))
  end)

  it("checks the types annotations name, and how they are written", function()
    local problems = check([[
---@alias demo.Kind
---| "a" # one
---| demo.Missing
---@class demo.A: demo.Nowhere
---@field x? integer
---@field y table<string, demo.A[]>
---@field cb fun(a: demo.A, ...: any): demo.Absent
---@field t {k?: demo.Gone, [string]: integer}

---@field orphan integer
---@class demo.A
---@type demo.Kind|demo.Undeclared
local x = 1
---@param a fun(
---@return
local function f(a) return a, x end
return f
]])
    for _, s in ipairs({ "type demo.Missing is declared nowhere", "type demo.Nowhere is declared nowhere",
                         "type demo.Absent is declared nowhere", "type demo.Gone is declared nowhere",
                         "type demo.Undeclared is declared nowhere", "---@field outside a ---@class block",
                         "demo.A declared twice", "---@param: fun: expected", "---@return: return: expected" }) do
      assert.is_true(mentions(problems, s), s .. " not reported; " .. listing(problems))
    end
    assert.are.equal(9, #problems, listing(problems))
  end)

  it("checks exports: functions, fun fields and other values", function()
    local text = [[
---@class demo.mod
---@field made fun(): integer
---@field NAME string
local M = {}
M.NAME = "x"
---@type integer
M.COUNT = 3
M.OTHER = {}
M.made = function() return 1 end
M.bare = function() return 1 end
---@return integer
function M.good() return 1 end
function M.bad(a) return a end
return M
]]
    local f = A.scan("demo.lua", text)
    local value = load_chunk(text, "@lua/plexauth/demo.lua")()
    local problems = A.exports({ f }, { { label = "demo", value = value, path = "demo.lua", var = "M" } })
    assert.is_true(mentions(problems, "demo.OTHER: a table with neither"), listing(problems))
    assert.is_true(mentions(problems, "demo.bare: an anonymous function"), listing(problems))
    assert.is_true(mentions(problems, "demo.bad: demo.lua:13: M.bad: no ---@param for `a`"), listing(problems))
    assert.are.equal(4, #problems, listing(problems)) -- M.bad also lacks its ---@return
  end)
end)
