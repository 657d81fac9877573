--- busted helper (`make secrecy-suite`): records every plexauth error the
-- whole suite creates and the token of every client it creates, and at the
-- end checks that no error (any field but `request_headers`, any string
-- inside, its tostring) holds any of those tokens. Prints
-- "secrecy-scan: 1 passed, 0 failed" or the leaks and "0 passed, 1 failed".
--
-- Loaded before the spec files, so `plexauth` and `plexauth.errors` stay the
-- same instances in every file (busted restores package.loaded to what it
-- was before each file).
local busted = require("busted")
local errors = require("plexauth.errors")
local plexauth = require("plexauth")
errors.wrapper()  -- errors name the spec that called a wrapped function

local recorded, tokens, ntokens = {}, {}, 0
local MIN_TOKEN = 8  -- shorter strings would match by chance

local new_error = errors.new
errors.new = function(cls, fields)
  local e = new_error(cls, fields)
  recorded[#recorded + 1] = e
  return e
end

local function note_token(t)
  if type(t) == "string" and #t >= MIN_TOKEN and not tokens[t] then
    tokens[t] = true
    ntokens = ntokens + 1
  end
end

for _, name in ipairs({ "new", "from_env" }) do
  local orig = plexauth[name]
  plexauth[name] = function(...)
    local c = orig(...)
    note_token(c._settings and c._settings.token)
    return c
  end
end

-- Device access tokens become tokens of clients made by connect_device,
-- which goes through plexauth.new.

local function scan(v, where, found, seen)
  local t = type(v)
  if t == "string" then
    for tok in pairs(tokens) do
      if string.find(v, tok, 1, true) then found[#found + 1] = where end
    end
  elseif t == "table" then
    if seen[v] then return end
    seen[v] = true
    if errors.is(v) then scan(tostring(v), "tostring(" .. where .. ")", found, seen) end
    for k, x in pairs(v) do
      if not (k == "request_headers" and errors.is(v)) then
        scan(k, where .. "[key]", found, seen)
        scan(x, where .. "." .. tostring(k), found, seen)
      end
    end
  end
end

busted.subscribe({ "suite", "end" }, function()
  local found = {}
  for i, e in ipairs(recorded) do
    local before = #found
    scan(e, "error " .. i .. " (" .. tostring(e.kind) .. ")", found, {})
    if #found > before then
      io.stdout:write("secrecy-scan: leak in ", tostring(e.kind), " error: ",
                      (string.gsub(tostring(e.message), "[%c]", "?")), "\n")
    end
  end
  io.stdout:write(string.format("\nsecrecy-scan: %d errors checked against %d client tokens\n",
                                #recorded, ntokens))
  for _, where in ipairs(found) do io.stdout:write("secrecy-scan: token in ", where, "\n") end
  io.stdout:write(#found == 0 and "secrecy-scan: 1 passed, 0 failed\n"
                  or "secrecy-scan: 0 passed, 1 failed\n")
  return nil, true
end)
