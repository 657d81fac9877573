--- Normalizing `MediaContainer.Device` and ordering its connections.
-- @module plexauth.device
local errors = require("plexauth.errors")

local M = {}
local argument = errors.argument

local function flag(v)
  return v == true or v == 1 or v == "1" or v == "true"
end

local function list(v)
  if type(v) ~= "table" then return {} end
  if v[1] == nil and next(v) ~= nil then return { v } end -- a lone object
  return v
end

local function str(v)
  if type(v) == "string" then return v end
  if type(v) == "number" then return tostring(v) end
  return nil
end

local function integer(v)
  local n = tonumber(v)
  if n and math.tointeger then return math.tointeger(n) end
  return n
end

--- Builds the normalized device from a decoded resources body, or nil
-- when it has no `MediaContainer.Device`.
-- @param object the decoded JSON body
-- @treturn table `{name=, client_identifier=, access_token=, connections={...}}`
---@param object any the decoded JSON body
---@return plexauth.Device|nil
function M.from_object(object)
  local mc = type(object) == "table" and object.MediaContainer
  local d = type(mc) == "table" and list(mc.Device)[1]
  if type(d) ~= "table" then return nil end
  local conns = {}
  for _, c in ipairs(list(d.Connection)) do
    if type(c) == "table" then
      conns[#conns + 1] = {
        protocol = str(c.protocol),
        address = str(c.address),
        port = integer(c.port),
        uri = str(c.uri),
        ["local"] = flag(c["local"]),
        relay = flag(c.relay),
      }
    end
  end
  return {
    name = str(d.name),
    client_identifier = str(d.clientIdentifier),
    access_token = str(d.accessToken),
    connections = conns,
  }
end

local function provides(v)
  local items = {}
  if type(v) == "string" then
    for item in string.gmatch(v, "[^,%s]+") do items[#items + 1] = item end
  end
  return items
end

-- A device's connection (`Response.device.connections`).
---@class plexauth.Connection
---@field protocol string|nil
---@field address string|nil
---@field port integer|nil
---@field uri string|nil
---@field local boolean
---@field relay boolean

-- A normalized device (`Response.device`).
---@class plexauth.Device
---@field name string|nil
---@field client_identifier string|nil
---@field access_token string|nil
---@field connections plexauth.Connection[]

-- A connection of a plex.tv resource.
---@class plexauth.ResourceConnection: plexauth.Connection
---@field ipv6 boolean

-- A device of plex.tv's resources (`Account:resources`): normalized as
-- `Response.device`, plus plex.tv's fields.
---@class plexauth.Resource: plexauth.Device
---@field connections plexauth.ResourceConnection[]
---@field product string|nil
---@field product_version string|nil
---@field platform string|nil
---@field platform_version string|nil
---@field provides string[] from the comma-separated field, e.g. `{ "server" }`
---@field owned boolean
---@field home boolean
---@field presence boolean
---@field https_required boolean
---@field public_address string|nil
---@field source_title string|nil

--- Builds a device from one element of plex.tv's resources list, or nil
-- when it is not an object. Normalized as `from_object`'s devices, plus
-- plex.tv's fields.
-- @param d one decoded element
-- @treturn table|nil the device
---@param d any one decoded element
---@return plexauth.Resource|nil
function M.from_resource(d)
  if type(d) ~= "table" then return nil end
  local conns = {}
  for _, c in ipairs(list(d.connections)) do
    if type(c) == "table" then
      conns[#conns + 1] = {
        protocol = str(c.protocol),
        address = str(c.address),
        port = integer(c.port),
        uri = str(c.uri),
        ["local"] = flag(c["local"]),
        relay = flag(c.relay),
        ipv6 = flag(c.IPv6),
      }
    end
  end
  return {
    name = str(d.name),
    client_identifier = str(d.clientIdentifier),
    access_token = str(d.accessToken),
    connections = conns,
    product = str(d.product),
    product_version = str(d.productVersion),
    platform = str(d.platform),
    platform_version = str(d.platformVersion),
    provides = provides(d.provides),
    owned = flag(d.owned),
    home = flag(d.home),
    presence = flag(d.presence),
    https_required = flag(d.httpsRequired),
    public_address = str(d.publicAddress),
    source_title = str(d.sourceTitle),
  }
end

local function rank(c)
  local r = c.relay and 2 or (c["local"] and 0 or 1)
  return r * 2 + (c.protocol == "https" and 0 or 1)
end

--- The device's connections sorted: local, remote, relay; https before
-- http within each; otherwise in the server's order. A new list.
-- @tparam table device a normalized device
-- @tparam[opt] table opts `allow_relay = false` drops relays
-- @treturn {table,...} the connections
---@param device plexauth.Device a normalized device (left unchanged)
---@param opts? {allow_relay?: boolean} `allow_relay = false` drops relays
---@return plexauth.Connection[]
function M.preferred_connections(device, opts)
  if type(device) ~= "table" then argument("device must be a table (got %s)", errors.describe(device)) end
  local conns = device.connections
  if conns ~= nil and type(conns) ~= "table" then
    argument("device.connections must be a table (got %s)", errors.describe(conns))
  end
  if opts ~= nil and type(opts) ~= "table" then argument("opts must be a table (got %s)", errors.describe(opts)) end
  if opts then errors.check_keys("preferred_connections", opts, { allow_relay = true }) end
  if opts and opts.allow_relay ~= nil and type(opts.allow_relay) ~= "boolean" then
    argument("allow_relay must be a boolean (got %s)", errors.describe(opts.allow_relay))
  end
  local keep = {}
  for i, c in ipairs(conns or {}) do
    if type(c) ~= "table" then argument("device.connections[%d] must be a table", i) end
    if not (c.relay and opts and opts.allow_relay == false) then
      keep[#keep + 1] = { c = c, r = rank(c), i = i }
    end
  end
  table.sort(keep, function(a, b)
    if a.r ~= b.r then return a.r < b.r end
    return a.i < b.i
  end)
  for i, k in ipairs(keep) do keep[i] = k.c end
  return keep
end

return M
