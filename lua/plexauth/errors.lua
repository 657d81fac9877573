--- Error classes of plexauth.
-- Every failure raises a table whose class chain ends at `Error`;
-- `tostring(err)` gives `"plexauth: <kind>: <message>"`.
-- @module plexauth.errors
local M = {}

local function class(name, kind, parent)
  local c = { name = name, kind = kind, __tostring = parent and parent.__tostring }
  c.__index = c
  if parent then setmetatable(c, parent) end
  return c
end

--- Base class of all errors.
M.Error = class("Error", "error")
M.Error.__tostring = function(e)
  return "plexauth: " .. tostring(e.kind) .. ": " .. tostring(e.message)
end

--- Bad option or argument, raised before any network activity.
M.ArgumentError = class("ArgumentError", "argument", M.Error)
--- No complete HTTP response (`reason`, `curl_code`, `attempts`).
M.TransportError = class("TransportError", "transport", M.Error)
--- A status outside 2xx (`status_code`, `content_type`, `headers`, `body`, `attempts`).
M.APIError = class("APIError", "api", M.Error)
--- HTTP 401; `errors` lists `{code=, message=, status=}` from a JSON body.
M.Unauthorized = class("Unauthorized", "unauthorized", M.APIError)
--- A 2xx answer whose body is not what the operation expects.
M.DecodeError = class("DecodeError", "decode", M.Error)

--- Makes an error of class `cls` from the fields in `fields` (taken over).
-- @param cls an error class
-- @param fields table with at least `message`
-- @return the error
function M.new(cls, fields)
  fields.kind = cls.kind
  return setmetatable(fields, cls)
end

--- True when `value` is an error of class `cls` or of a subclass.
-- @param value anything
-- @param cls an error class (default `Error`)
function M.is(value, cls)
  if type(value) ~= "table" or rawget(value, "__index") ~= nil then
    return false -- not an error, or a class itself
  end
  cls = cls or M.Error
  local mt = getmetatable(value)
  while mt ~= nil do
    if mt == cls then return true end
    mt = getmetatable(mt)
  end
  return false
end

--- Raises an `ArgumentError` with a message built by `string.format`.
function M.argument(fmt, ...)
  error(M.new(M.ArgumentError, { message = string.format(fmt, ...) }), 0)
end

return M
