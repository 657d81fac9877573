--- Connecting to a device: its connections probed at once (`GET /identity`),
-- the best one that answers chosen by `preferred_connections`' order. For
-- `Client:connect_device` and `Account:connect_device`, in blocking and
-- non-blocking mode alike (the probes are a batch of the caller's driver).
-- @module plexauth.connect
local errors = require("plexauth.errors")
local options = require("plexauth.options")
local device = require("plexauth.device")
local call = require("plexauth.call")
local Response = require("plexauth.response")

local M = {}
local argument, describe = errors.argument, errors.describe

local function answered(r)
  local res = r and r.response
  return res ~= nil and res.status_code >= 200 and res.status_code <= 299
end

-- Probes `urls` at once on a new multi with transport `t`; returns the
-- results in list order ({response=, decode_error=} or {reason=,
-- curl_code=, message=}) as soon as the first URL that answered 2xx has no
-- unfinished URL before it (later ones cannot win; they stay nil), and
-- true when the caller's task was cancelled.
local function probe(drv, urls, t)
  local results = {}
  local b = drv:batch(t)
  local index = {}
  for i, u in ipairs(urls) do
    local id = b:start("GET", u)
    if id then index[id] = i end
  end
  while true do
    local id, res, a, c, d = b:next()
    if not id then
      b:close()
      return results, id == false
    end
    results[index[id]] = res and { response = res, decode_error = a }
                         or { reason = a, curl_code = c, message = d }
    local i = 1
    while results[i] and not answered(results[i]) do i = i + 1 end
    if answered(results[i]) then
      b:close()
      return results, false
    end
  end
end

--- Probes `dev`'s connections and returns a client on the best that
-- answers, and that connection.
-- @param self the caller (its token, driver and errors)
-- @tparam table base the client options the new client starts from
-- @tparam table dev a device (`Response.device`, or one of `Account:resources`)
-- @tparam[opt] table opts `timeout` (per probe, default 3), `allow_relay`, and
--   any client option for the new client
-- @tparam function new_client `plexauth.new`
function M.device(self, base, dev, opts, new_client)
  if type(dev) ~= "table" or type(dev.connections) ~= "table" then
    argument("device must be a table with connections (a Response.device; got %s)", describe(dev))
  end
  if opts ~= nil and type(opts) ~= "table" then
    argument("opts must be a table (got %s)", describe(opts))
  end
  opts = opts or {}
  local secrets = { self._settings.token, dev.access_token }
  local probe_timeout = opts.timeout or 3
  local o = {}
  for k, v in pairs(base) do o[k] = v end
  o.protocol, o.ip, o.port = nil, nil, nil
  o.token = dev.access_token
  for k, v in pairs(opts) do
    if k ~= "allow_relay" then o[k] = v end
  end
  if opts.allow_relay ~= nil and type(opts.allow_relay) ~= "boolean" then
    argument("allow_relay must be a boolean (got %s)", describe(opts.allow_relay))
  end
  local candidates = device.preferred_connections(dev, { allow_relay = opts.allow_relay })
  local urls, resolve = {}, {}
  for i, c in ipairs(candidates) do
    if type(c.uri) ~= "string" then argument("connection %d has no uri", i) end
    o.server_url = c.uri
    -- validates every candidate before any probe
    local s = call.redacting(secrets, options.check, o)
    urls[i] = s.base .. "/identity"
    for _, e in ipairs(s.transport.resolve) do resolve[#resolve + 1] = e end
  end
  local checked = call.redacting(secrets, options.check, o)
  local t = {}
  for k, v in pairs(checked.transport) do t[k] = v end
  t.timeout = probe_timeout
  t.connect_timeout = math.min(probe_timeout, t.connect_timeout)
  t.resolve = resolve
  t.headers = checked.headers -- identity only: probes send no token
  t.max_connections = 0
  local results, cancelled = {}, false
  if #urls > 0 then results, cancelled = probe(self._driver, urls, t) end
  if cancelled then errors.raise(call.cancelled("connectDevice", urls[1], 1)) end
  local failures = {}
  for i, c in ipairs(candidates) do
    local r = results[i]
    local res = r and r.response
    if res and res.status_code >= 200 and res.status_code <= 299 then
      o.server_url = c.uri
      return new_client(o), c
    end
    local e
    if res then
      e = call.api_error(self, "connectDevice", setmetatable(res, Response), 1, secrets)
    elseif r then
      e = call.transport_error("connectDevice", urls[i], r.reason, r.curl_code, r.message, 1, secrets)
    else
      e = call.transport_error("connectDevice", urls[i], "other", 0, "not probed", 1, secrets)
    end
    failures[#failures + 1] = { uri = c.uri, error = e }
  end
  errors.raise(errors.new(errors.TransportError, {
    message = string.format("none of %d connections answered", #candidates),
    operation = "connectDevice", reason = "connect", curl_code = 7,
    attempts = 1, failures = failures,
  }))
end

return M
