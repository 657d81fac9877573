--- Error classes of plexauth.
-- Every failure raises a table whose class chain ends at `Error`;
-- `tostring(err)` gives `"plexauth: <kind>: <message>"`, followed by
-- `" (at file:line)"` when the error knows the caller's position (`where`).
-- @module plexauth.errors
---@class plexauth.errors
local M = {}

---@alias plexauth.ErrorKind
---| "argument"
---| "transport"
---| "api"
---| "unauthorized"
---| "two_factor_required"
---| "pin_expired"
---| "decode"

---@alias plexauth.TransportReason
---| "timeout" # the attempt outlived `timeout`
---| "connect" # no connection: refused, unreachable, connect time-out
---| "resolve" # the host name did not resolve
---| "tls" # TLS handshake or certificate verification failed
---| "too_large" # the body exceeded `max_response_bytes`
---| "protocol" # no valid HTTP answer
---| "cancelled" # the call's task was cancelled, or its client closed
---| "other"

-- What every error has.
---@class plexauth.Error
---@field kind plexauth.ErrorKind
---@field message string
---@field operation string|nil the operation id, e.g. "getTransientToken"
---@field where string|nil "file:line" of the code that called plexauth

---@class plexauth.ArgumentError: plexauth.Error

---@class plexauth.TransportError: plexauth.Error
---@field reason plexauth.TransportReason
---@field curl_code integer libcurl's CURLcode (42 when cancelled)
---@field attempts integer
---@field failures plexauth.ConnectFailure[]|nil connect_device: each connection tried, in preference order

-- A connection `connect_device` probed in vain.
---@class plexauth.ConnectFailure
---@field uri string
---@field error plexauth.APIError|plexauth.TransportError the probe's error

---@class plexauth.APIError: plexauth.Error
---@field status_code integer
---@field content_type string|nil
---@field headers table<string, string> lower-case names
---@field body string
---@field attempts integer

---@class plexauth.Unauthorized: plexauth.APIError
---@field errors plexauth.ErrorItem[] from the JSON body (empty when it has none)

-- An entry of a 401 body's `errors` list, each value as the body gave it.
---@class plexauth.ErrorItem
---@field code any plex.tv: an integer, e.g. 1029
---@field message any
---@field status any

---@class plexauth.TwoFactorRequired: plexauth.Unauthorized

---@class plexauth.PinExpired: plexauth.Error
---@field pin_id integer

---@class plexauth.DecodeError: plexauth.Error
---@field status_code integer
---@field content_type string|nil
---@field body string

-- An error class (`errors.APIError`, ...): the metatable of its errors.
---@class plexauth.ErrorClass
---@field name string e.g. "APIError"
---@field kind string the `kind` of its errors
---@field __tostring fun(e: plexauth.Error): string

local function class(name, kind, parent)
  local c = { name = name, kind = kind, __tostring = parent and parent.__tostring }
  c.__index = c
  if parent then setmetatable(c, parent) end
  return c
end

--- Base class of all errors.
---@type plexauth.ErrorClass
M.Error = class("Error", "error")
M.Error.__tostring = function(e)
  local s = "plexauth: " .. tostring(e.kind) .. ": " .. tostring(e.message)
  if e.where then s = s .. " (at " .. e.where .. ")" end
  return s
end

--- Bad option or argument, raised before any network activity.
---@type plexauth.ErrorClass
M.ArgumentError = class("ArgumentError", "argument", M.Error)
--- No complete HTTP response (`reason`, `curl_code`, `attempts`).
---@type plexauth.ErrorClass
M.TransportError = class("TransportError", "transport", M.Error)
--- A status outside 2xx (`status_code`, `content_type`, `headers`, `body`, `attempts`).
---@type plexauth.ErrorClass
M.APIError = class("APIError", "api", M.Error)
--- HTTP 401; `errors` lists `{code=, message=, status=}` from a JSON body.
---@type plexauth.ErrorClass
M.Unauthorized = class("Unauthorized", "unauthorized", M.APIError)
--- plex.tv's sign-in answered 401 code 1029: a verification code is needed.
---@type plexauth.ErrorClass
M.TwoFactorRequired = class("TwoFactorRequired", "two_factor_required", M.Unauthorized)
--- A PIN's lifetime ended before it was linked (`pin_id`).
---@type plexauth.ErrorClass
M.PinExpired = class("PinExpired", "pin_expired", M.Error)
--- A 2xx answer whose body is not what the operation expects.
---@type plexauth.ErrorClass
M.DecodeError = class("DecodeError", "decode", M.Error)

--- Makes an error of class `cls` from the fields in `fields` (taken over).
-- @param cls an error class
-- @tparam table fields at least `message`
-- @return the error
---@param cls plexauth.ErrorClass
---@param fields table at least `message`; it becomes the error
---@return plexauth.Error
function M.new(cls, fields)
  fields.kind = cls.kind
  return setmetatable(fields, cls)
end

--- True when `value` is an error of class `cls` or of a subclass.
-- A `cls` given but not an error class (nil from a misspelt name, say)
-- raises `ArgumentError` rather than matching every error.
-- @param value anything
-- @param[opt] cls an error class (default `Error`)
-- @treturn boolean
---@param value any
---@param ... plexauth.ErrorClass the class (default `Error`); nil given raises `ArgumentError`
---@return boolean
function M.is(value, ...)
  local cls = ...
  if cls == nil then
    if select("#", ...) > 0 then M.argument("errors.is: the class is nil (a misspelt name?)") end
    cls = M.Error
  else
    local c = type(cls) == "table" and rawget(cls, "__index") == cls and cls
    while c and c ~= M.Error do c = getmetatable(c) end
    if not c then M.argument("errors.is: %s is not an error class", M.describe(cls)) end
  end
  if type(value) ~= "table" or rawget(value, "__index") ~= nil then
    return false -- not an error, or a class itself
  end
  local mt = getmetatable(value)
  while mt ~= nil do
    if mt == cls then return true end
    mt = getmetatable(mt)
  end
  return false
end

-- A chunk of plexauth's own: its modules (`.../plexauth/x.lua`, or
-- `plexauth/x.lua` when preloaded from the static library). The CLI is the
-- caller, not plexauth.
-- Sources of wrappers that should not be named either (see `M.wrapper`).
local wrappers = {}

local function ours(source)
  return string.find(source, "plexauth/[%w_/]+%.lua$") ~= nil or wrappers[source] ~= nil
end

--- Marks the calling chunk as a wrapper of plexauth: errors then name its
-- caller instead of it (for code that wraps plexauth's functions).
function M.wrapper()
  local info = debug.getinfo(2, "S")
  if info then wrappers[info.source] = true end
end

--- "file:line" of the innermost caller outside plexauth's modules, or nil.
-- @treturn string|nil
---@return string|nil where
function M.caller()
  local level = 2
  while true do
    local info = debug.getinfo(level, "Sl")
    if not info then return nil end
    -- Lua 5.1 shows a frame replaced by a tail call as "tail": skip it.
    if info.what ~= "C" and info.what ~= "tail" and not ours(info.source) then
      local src = info.source
      src = string.sub(src, 1, 1) == "@" and string.sub(src, 2) or info.short_src
      return info.currentline and info.currentline > 0 and (src .. ":" .. info.currentline) or src
    end
    level = level + 1
  end
end

--- Raises `err` (an error) at the caller's position: sets `where` once.
---@param err plexauth.Error
function M.raise(err)
  if err.where == nil then err.where = M.caller() end
  error(err, 0)
end

--- A value as an argument message shows it: its type, and strings quoted
-- (`string "5"`, `number 5`, `boolean true`, `nil`, `table`).
-- @param v
-- @treturn string
---@param v any
---@return string
function M.describe(v)
  local t = type(v)
  if t == "string" then
    if #v > 60 then v = string.sub(v, 1, 57) .. "..." end
    return string.format("string %q", v)
  elseif t == "number" or t == "boolean" then
    return t .. " " .. tostring(v)
  end
  return t
end

--- Raises an `ArgumentError` with a message built by `string.format`.
---@param fmt string
---@param ... any
function M.argument(fmt, ...)
  M.raise(M.new(M.ArgumentError, { message = string.format(fmt, ...) }))
end

--- Raises an `ArgumentError` unless every key of table `t` is in the set
-- `known`; `what` names the table in the message.
---@param what string
---@param t table
---@param known table<any, boolean>
function M.check_keys(what, t, known)
  for k in pairs(t) do
    if not known[k] then
      M.argument("%s: unknown field %s", what, type(k) == "string" and k or M.describe(k))
    end
  end
end

return M
