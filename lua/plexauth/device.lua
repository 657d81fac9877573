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

local function rank(c)
  local r = c.relay and 2 or (c["local"] and 0 or 1)
  return r * 2 + (c.protocol == "https" and 0 or 1)
end

--- The device's connections sorted: local, remote, relay; https before
-- http within each; otherwise in the server's order. A new list.
-- @tparam table device a normalized device
-- @tparam[opt] table opts `allow_relay = false` drops relays
function M.preferred_connections(device, opts)
  if type(device) ~= "table" then argument("device must be a table (got %s)", type(device)) end
  local conns = device.connections
  if conns ~= nil and type(conns) ~= "table" then
    argument("device.connections must be a table (got %s)", type(conns))
  end
  if opts ~= nil and type(opts) ~= "table" then argument("opts must be a table (got %s)", type(opts)) end
  if opts and opts.allow_relay ~= nil and type(opts.allow_relay) ~= "boolean" then
    argument("allow_relay must be a boolean (got %s)", type(opts.allow_relay))
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
