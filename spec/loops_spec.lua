-- The non-blocking mode's rules (spec/loops/cases.lua) in each host this Lua
-- has: plexauth's poll loop always; luv and cqueues when installed (Lua 5.1
-- to 5.4); copas where Debian has it (Lua 5.1 and 5.2). Neovim, mpv and
-- copas on 5.2 also run the cases in their own processes
-- (tools/check-hosts).
local cases = require("spec.loops.cases")
local hosts = require("spec.loops.hosts")

local available = { "poll" }
for _, name in ipairs({ "luv", "cqueues", "copas" }) do
  if pcall(require, name) then available[#available + 1] = name end
end

for _, name in ipairs(available) do
  describe("loops." .. name, function()
    local H = hosts[name]()
    local S = {}
    local fds
    setup(function()
      S.srv = require("spec.support.fake").start{}
      fds = cases.fds()
    end)
    teardown(function()
      S.srv:stop()
    end)
    for _, case in ipairs(cases) do
      it(case.name, function()
        case.fn(H, S)
      end)
    end
    it("leaves no descriptor open", function()
      collectgarbage("collect")
      collectgarbage("collect")
      assert.is_true(cases.fds() <= fds, cases.fds() .. " descriptors, " .. fds .. " before")
    end)
  end)
end
