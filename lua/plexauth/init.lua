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

---@class plexauth
---@field _VERSION string "plexauth X.Y.Z"
---@field errors plexauth.errors the error classes, and `errors.is`
---@field null lightuserdata what JSON `null` decodes to (lua-cjson's `cjson.null`)
---@field loops plexauth.loops event-loop adapters for the `loop` option (loaded on first use)
---@field USER_AGENT string the User-Agent sent when the `user_agent` option is not given
---@field Client plexauth.Client the class of clients
---@field Response plexauth.Response the class of responses
local M = {}

M._VERSION = "plexauth " .. options.VERSION
M.errors = errors
M.null = core.null
M.preferred_connections = device.preferred_connections
--- The User-Agent sent when the `user_agent` option is not given.
M.USER_AGENT = options.USER_AGENT

local argument, describe = errors.argument, errors.describe
local TOKEN_PATH = "/security/token?type=delegation&scope=all"

-- The options `plexauth.new` and `plexauth.account` share.
---@class plexauth.CommonOptions
---@field token? string sent only as the `X-Plex-Token` header
---@field client_identifier? string `X-Plex-Client-Identifier`
---@field product? string `X-Plex-Product`
---@field version? string `X-Plex-Version`
---@field platform? string `X-Plex-Platform`
---@field platform_version? string `X-Plex-Platform-Version`
---@field device? string `X-Plex-Device`
---@field model? string `X-Plex-Model`
---@field device_vendor? string `X-Plex-Device-Vendor`
---@field device_name? string `X-Plex-Device-Name`
---@field marketplace? string `X-Plex-Marketplace`
---@field timeout? number seconds (> 0) one attempt may take, connect included (default 30)
---@field connect_timeout? number seconds (> 0) to connect (default 10)
---@field retries? plexauth.Retries|false retry policy for GET and HEAD; `false`: one attempt
---@field verify_tls? boolean verify the server certificate and host name (default true)
---@field ca_file? string PEM file of trusted CAs (default: the system bundle)
---@field max_response_bytes? integer a larger body ends the call: `TransportError` "too_large" (default 1048576)
---@field user_agent? string the User-Agent header (default `plexauth.USER_AGENT`)
---@field resolve? string[] `"host:port:address"` entries pinning names to addresses, as curl's `--resolve`
---@field hooks? plexauth.Hooks functions run at each attempt
---@field loop? plexauth.Loop non-blocking mode: calls suspend the calling task of this loop

-- The options of `plexauth.new`. Unknown names, wrong types and values out
-- of range raise `ArgumentError`.
---@class plexauth.Options: plexauth.CommonOptions
---@field server_url? string http or https base URL, may carry a path prefix (default: from protocol, ip, port)
---@field protocol? "http"|"https" ignored with `server_url` (default "http")
---@field ip? string host name, IPv4 or IPv6 address; ignored with `server_url` (default "127.0.0.1")
---@field port? integer 1-65535; ignored with `server_url` (default 32400)
---@field plex_direct? boolean resolve `*.plex.direct` names to the address their first label encodes (default true)

-- The options of `connect_device`: any client option for the new client,
-- and these.
---@class plexauth.ConnectOptions: plexauth.Options
---@field timeout? number seconds per probe (default 3); when given, also the new client's `timeout`
---@field allow_relay? boolean `false`: relay connections are not probed

-- The `retries` option; a partial table is merged with the defaults.
---@class plexauth.Retries
---@field max_attempts? integer attempts in all, >= 1 (default 3)
---@field initial_interval? number seconds of the first back-off, before jitter (default 0.5)
---@field max_interval? number cap in seconds on one back-off and on `Retry-After` (default 10)
---@field exponent? number back-off growth per attempt, >= 1 (default 1.5)
---@field max_elapsed_time? number no retry whose wait would end later, in seconds after the call began (default 30)
---@field retry_connection_errors? boolean retry `TransportError`s with reason "connect" (default true)
---@field status_codes? integer[] statuses retried (default `{ 429, 502, 503, 504 }`; never 401)

-- The `hooks` option. Each hook runs once per attempt; an error it raises
-- reaches the caller as it was raised. `after_error` gets `res` nil when
-- no answer came (a `TransportError`).
---@class plexauth.Hooks
---@field before_request? fun(ctx: plexauth.HookContext, req: plexauth.HookRequest) may change `req.headers`
---@field after_success? fun(ctx: plexauth.HookContext, res: plexauth.Response)
---@field after_error? fun(ctx: plexauth.HookContext, res: plexauth.Response|nil, err: plexauth.Error)

-- What the hooks of one attempt share as `ctx`.
---@class plexauth.HookContext
---@field operation string the operation id, e.g. "getTransientToken"
---@field attempt integer 1 for the first attempt

-- The request `before_request` sees.
---@class plexauth.HookRequest
---@field method string
---@field url string
---@field headers table<string, string> the headers by name but token and User-Agent; what the hook sets is sent

-- The table form of `get_transient_token`'s arguments.
---@class plexauth.TokenArgs
---@field type? "delegation" the only type
---@field scope? "all" the only scope

-- What `Client:request` sends.
---@class plexauth.Request
---@field method? string an upper-case HTTP method (default "GET"); only GET and HEAD are retried
---@field path string starts with `/`; no query, fragment, white space or control character
---@field query? table<string, string|number|boolean> percent-encoded; booleans sent as 1 and 0

--- A client of one Plex Media Server (`plexauth.new`, `plexauth.from_env`).
---@class plexauth.Client
---@field base string the base URL (`server_url` without trailing `/`)
local Client = {}
Client.__index = Client
Client.__name = "plexauth.Client"

--- Creates a client. See the option table in the README.
-- @tparam[opt] table opts client options
-- @treturn plexauth.Client
---@param opts? plexauth.Options
---@return plexauth.Client
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
---@param opts? plexauth.Options options that win over the environment
---@return plexauth.Client
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
---@param opts plexauth.AccountOptions
---@return plexauth.Account
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
---@param type_? "delegation" the only type
---@param scope? "all" the only scope
---@return plexauth.Response res with `res.token`, the transient token
---@overload fun(self: plexauth.Client, args: plexauth.TokenArgs): plexauth.Response
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
---@param source string `scheme://rest`, e.g. "server://<client identifier>"
---@return plexauth.Response res with `res.device`, the source's device
---@overload fun(self: plexauth.Client, args: {source: string}): plexauth.Response
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
---@param req plexauth.Request
---@return plexauth.Response res never a `DecodeError`: `res.object` is nil when the body is not JSON
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
---@param dev plexauth.Device a `Response.device`, or a device of `Account:resources`
---@param opts? plexauth.ConnectOptions
---@return plexauth.Client client on the best connection, with `dev.access_token` as its token
---@return plexauth.Connection conn the chosen connection
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
