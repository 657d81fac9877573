--- plexauth: Plex authentication for Lua.
--
-- Plex Media Server's authentication API (transient tokens, source
-- connection information, connecting to the best connection of a device),
-- in blocking or non-blocking mode (`loop` option, `plexauth.loops`), and
-- plex.tv accounts (`plexauth.account`).
-- @module plexauth
local core = require("plexauth.core")
local errors = require("plexauth.errors")
local options = require("plexauth.options")
local url = require("plexauth.url")
local device = require("plexauth.device")
local call = require("plexauth.call")
local Response = require("plexauth.response")

local M = {}

M._VERSION = "plexauth " .. options.VERSION
M.errors = errors
M.null = core.null
M.preferred_connections = device.preferred_connections
--- The User-Agent sent when the `user_agent` option is not given.
M.USER_AGENT = options.USER_AGENT

local argument, describe = errors.argument, errors.describe
local TOKEN_PATH = "/security/token?type=delegation&scope=all"

---@class plexauth.Client
---@field base string the base URL
local Client = {}
Client.__index = Client
Client.__name = "plexauth.Client"

--- Creates a client. See the option table in the README.
-- @tparam[opt] table opts client options
-- @treturn plexauth.Client
function M.new(opts)
  local token = type(opts) == "table" and opts.token or nil
  local s = call.redacting({ token }, options.check, opts)
  local copy = {}
  for k, v in pairs(opts or {}) do copy[k] = v end
  local self = setmetatable({ base = s.base, _url_token = s.base .. TOKEN_PATH }, Client)
  return call.setup(self, s, copy)
end

--- Creates a client with `server_url`, `token` and `client_identifier`
-- from `PLEX_URL`, `PLEX_TOKEN` and `PLEX_CLIENT_IDENTIFIER` where `opts`
-- gives none. `PLEX_URL` is used only when `opts` gives none of
-- `server_url`, `protocol`, `ip`, `port`.
-- @tparam[opt] table opts client options
-- @treturn plexauth.Client
function M.from_env(opts)
  if opts ~= nil and type(opts) ~= "table" then
    argument("options must be a table (got %s)", describe(opts))
  end
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  local function env(name)
    local v = os.getenv(name)
    if v ~= nil and v ~= "" then return v end
  end
  if o.server_url == nil and o.protocol == nil and o.ip == nil and o.port == nil then
    o.server_url = env("PLEX_URL")
  end
  if o.token == nil then o.token = env("PLEX_TOKEN") end
  if o.client_identifier == nil then o.client_identifier = env("PLEX_CLIENT_IDENTIFIER") end
  return M.new(o)
end

--- Creates a plex.tv account client; see `plexauth.account`.
-- @tparam table opts account options (`client_identifier` required)
-- @treturn plexauth.Account
function M.account(opts)
  return require("plexauth.account").new(opts)
end

--- Event-loop adapters for the `loop` option: `luv(uv)`, `cqueues([cq])`,
-- `copas(copas)`, `mpv(mp)`, `poll()` (`plexauth.loops`, loaded on first
-- use, as each adapter is).
-- @table loops
setmetatable(M, { __index = function(t, k)
  if k == "loops" then
    t.loops = require("plexauth.loops")
    return t.loops
  end
end })

function Client:__tostring()
  return string.format("plexauth.Client (%s%s)", self.base,
                       self._driver and "" or ", closed")
end

local function check_open(self)
  if getmetatable(self) ~= Client then
    argument("method called on %s, not a Client (use client:method)", describe(self))
  end
  if not self._driver then argument("client is closed") end
  if self._loop then self._driver:check() end
end

local function check_token(res)
  local obj = res.object
  if obj == nil then return "body is not JSON" end
  local mc = type(obj) == "table" and obj.MediaContainer
  if type(mc) ~= "table" then return "no MediaContainer" end
  if type(mc.token) ~= "string" or mc.token == "" then return "no token" end
  res.token = mc.token
end

local function check_device(res)
  local obj = res.object
  if obj == nil then return "body is not JSON" end
  if type(obj) ~= "table" or type(obj.MediaContainer) ~= "table" then
    return "no MediaContainer"
  end
  res.device = device.from_object(obj)
  if not res.device then return "no Device" end
end

local TOKEN_ARGS = { type = true, scope = true }

--- Gets a transient token (`GET /security/token`).
-- @param[opt] type_ `"delegation"` (the only type), or a table `{type=, scope=}`
-- @param[opt] scope `"all"` (the only scope)
-- @treturn plexauth.Response with `token`
function Client:get_transient_token(type_, scope)
  check_open(self)
  if type(type_) == "table" then
    errors.check_keys("get_transient_token", type_, TOKEN_ARGS)
    type_, scope = type_.type, type_.scope
  end
  if type_ ~= nil and type_ ~= "delegation" then
    argument("type must be \"delegation\" (got %s)", describe(type_))
  end
  if scope ~= nil and scope ~= "all" then
    argument("scope must be \"all\" (got %s)", describe(scope))
  end
  local spec = self._token_spec -- built once per client: the hot path allocates no table
  if not spec then
    spec = { op = "getTransientToken", method = "GET", url = self._url_token, check = check_token }
    self._token_spec = spec
  end
  return call.run(self, spec)
end

local SOURCE_ARGS = { source = true }

--- Gets connection information and a transient token for a source the
-- server knows (`GET /security/resources`).
-- @param source `"server://<client identifier>"` and the like, or `{source=}`
-- @treturn plexauth.Response with `device`
function Client:get_source_connection_information(source)
  check_open(self)
  if type(source) == "table" then
    errors.check_keys("get_source_connection_information", source, SOURCE_ARGS)
    source = source.source
  end
  if type(source) ~= "string" or not string.match(source, "^%a[%w+.-]*://.") then
    argument("source must be a string scheme://rest (got %s)", describe(source))
  end
  return call.run(self, { op = "getSourceConnectionInformation", method = "GET",
                          url = self.base .. "/security/resources?source=" .. url.escape(source),
                          check = check_device })
end

local REQUEST_ARGS = { method = true, path = true, query = true }

--- Calls any Plex endpoint with this client's headers, retries and errors.
-- @tparam table req `{method="GET", path="/...", query={...}}`
-- @treturn plexauth.Response (`object` nil when the body is not JSON)
function Client:request(req)
  check_open(self)
  if type(req) ~= "table" then argument("request takes a table (got %s)", describe(req)) end
  errors.check_keys("request", req, REQUEST_ARGS)
  local method = req.method or "GET"
  if type(method) ~= "string" or not string.match(method, "^%u+$") then
    argument("method must be an upper-case HTTP method (got %s)", describe(method))
  end
  local path = req.path
  if type(path) ~= "string" or not string.match(path, "^/") or string.find(path, "[%s%c?#]") then
    argument("path must be a string starting with / (got %s)", describe(path))
  end
  local target = self.base .. path
  if req.query ~= nil then
    if type(req.query) ~= "table" then argument("query must be a table (got %s)", describe(req.query)) end
    for k, v in pairs(req.query) do
      local t = type(v)
      if type(k) ~= "string" or (t ~= "string" and t ~= "number" and t ~= "boolean") then
        argument("query.%s must be a string, number or boolean (got %s)", tostring(k), describe(v))
      end
    end
    local q = url.query(req.query)
    if q ~= "" then target = target .. "?" .. q end
  end
  return call.run(self, { op = "request", method = method, url = target })
end

--- Probes the device's connections in parallel (`GET /identity`) and
-- returns a new client on the best one that answers 2xx.
-- @tparam table dev a `Response.device`
-- @tparam[opt] table opts `timeout` (probe, default 3), `allow_relay`, and
-- any client option for the new client
-- @treturn plexauth.Client
-- @treturn table the chosen connection
function Client:connect_device(dev, opts)
  check_open(self)
  return require("plexauth.connect").device(self, self._opts, dev, opts, M.new)
end

--- Releases the connection. Idempotent; later calls raise `ArgumentError`.
-- With a loop, calls in flight end with `reason = "cancelled"`.
function Client:close()
  local drv = self._driver
  if drv then
    self._driver = nil
    drv:close()
  end
end

Client.__close = Client.close
Client.__gc = Client.close

M.Client = Client
M.Response = Response

return M
