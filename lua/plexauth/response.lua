--- The Response class: what every call returns.
-- @module plexauth.response
local core = require("plexauth.core")

--- A server's answer, as every call returns it.
---@class plexauth.Response
---@field status_code integer
---@field content_type string|nil
---@field headers table<string, string> lower-case names; repeated headers joined with ", "
---@field body string the raw body
---@field object any the decoded JSON body (`null` as `plexauth.null`), or nil when it is not JSON
---@field token? string getTransientToken: the transient token (`MediaContainer.token`)
---@field device? plexauth.Device getSourceConnectionInformation: the source's device
local Response = {}
Response.__name = "plexauth.Response"

-- The core leaves headers as the raw block until they are first read.
function Response.__index(r, k)
  if k == "headers" then
    local raw = rawget(r, "raw_headers")
    if raw then
      local h = core.headers(raw)
      r.headers, r.raw_headers = h, nil
      return h
    end
  end
  return Response[k]
end

-- No header values: a hostile server may echo the token in any of them.
function Response.__tostring(r)
  return string.format("plexauth.Response (%d, %d bytes)", r.status_code, #r.body)
end

return Response
