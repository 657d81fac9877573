--- plexauth: the authentication API of Plex Media Server.
-- @module plexauth
local core = require("plexauth.core")
local errors = require("plexauth.errors")
local options = require("plexauth.options")
local retry = require("plexauth.retry")
local url = require("plexauth.url")
local device = require("plexauth.device")

local M = {}

M._VERSION = "plexauth 0.1.0"
M.errors = errors
M.null = core.null
M.preferred_connections = device.preferred_connections

local argument = errors.argument
local TOKEN_PATH = "/security/token?type=delegation&scope=all"

local Client = {}
Client.__index = Client
Client.__name = "plexauth.Client"

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

local function lua_version()
  if type(jit) == "table" and jit.version then return jit.version end
  return _VERSION
end

local DEFAULT_UA = string.format("plexauth/%s (%s; libcurl %s)",
  string.match(M._VERSION, "[%d.]+$"), lua_version(), core.curl_version)

--- The User-Agent sent when the `user_agent` option is not given.
M.USER_AGENT = DEFAULT_UA

-- The token must appear in no message or field of an error: replace it
-- (and `other`, a second secret, when given).
local function redact(s, token, other)
  if other then s = redact(s, other) end
  if type(s) ~= "string" or type(token) ~= "string" or token == "" then return s end
  local i, j = string.find(s, token, 1, true)
  while i do
    s = string.sub(s, 1, i - 1) .. "<token>" .. string.sub(s, j + 1)
    i, j = string.find(s, token, i + 7, true)
  end
  return s
end

-- Calls fn(...) and raises its error again with the token(s) replaced in the
-- message: argument errors may quote a caller's value that holds the token.
local function redacting(token, other, fn, ...)
  local ok, r = pcall(fn, ...)
  if ok then return r end
  if errors.is(r) then r.message = redact(r.message, token, other) end
  error(r, 0)
end

--- Creates a client. See the option table in the README.
-- @tparam[opt] table opts client options
-- @treturn Client
function M.new(opts)
  local s = redacting(type(opts) == "table" and opts.token, nil, options.check, opts)
  local copy = {}
  for k, v in pairs(opts or {}) do copy[k] = v end
  local self = setmetatable({
    base = s.base,
    _opts = copy,
    _settings = s,
    _policy = retry.policy(s.retries),
    _hooks = s.hooks,
    _url_token = s.base .. TOKEN_PATH,
  }, Client)
  -- The header list sent when no hook changes it: identity, token, agent.
  local list = {}
  for i, h in ipairs(s.headers) do list[i] = h end
  if s.token then list[#list + 1] = "X-Plex-Token: " .. s.token end
  list[#list + 1] = "User-Agent: " .. (s.user_agent or DEFAULT_UA)
  local t = {}
  for k, v in pairs(s.transport) do t[k] = v end
  t.headers = list
  local session = core.session()
  session:configure(t)
  self._session = session
  return self
end

--- Creates a client with `server_url`, `token` and `client_identifier`
-- from `PLEX_URL`, `PLEX_TOKEN` and `PLEX_CLIENT_IDENTIFIER` where `opts`
-- gives none. `PLEX_URL` is used only when `opts` gives none of
-- `server_url`, `protocol`, `ip`, `port`.
-- @tparam[opt] table opts client options
-- @treturn Client
function M.from_env(opts)
  if opts ~= nil and type(opts) ~= "table" then
    argument("options must be a table (got %s)", type(opts))
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

function Client:__tostring()
  return string.format("plexauth.Client (%s%s)", self.base,
                       self._session and "" or ", closed")
end

local function check_open(self)
  if getmetatable(self) ~= Client then
    argument("method called on %s, not a Client (use client:method)", type(self))
  end
  if not self._session then argument("client is closed") end
end

-- Builds the curl header list from the name -> value map a hook returned.
-- Names are case-insensitive: when a hook sets a name that differs only in
-- case from another, the one the hook set or changed wins, and it replaces
-- the token and User-Agent headers too.
local function header_list(self, named)
  local s = self._settings
  local original = s.named_headers
  local chosen = {} -- lower-case name -> key in named
  for k, v in pairs(named) do
    if type(k) ~= "string" or not string.match(k, "^[%w!#$%%&'*+.^_`|~-]+$") then
      argument("header name %s is not valid", tostring(k))
    end
    options.check_header_value("header " .. k, v)
    local lk = string.lower(k)
    local prev = chosen[lk]
    if prev == nil or original[prev] == named[prev] or original[k] == nil then
      chosen[lk] = k
    end
  end
  local names = {}
  for _, k in pairs(chosen) do names[#names + 1] = k end
  table.sort(names)
  local list = {}
  for i, k in ipairs(names) do list[i] = k .. ": " .. named[k] end
  if s.token and chosen["x-plex-token"] == nil then
    list[#list + 1] = "X-Plex-Token: " .. s.token
  end
  if chosen["user-agent"] == nil then
    list[#list + 1] = "User-Agent: " .. (s.user_agent or DEFAULT_UA)
  end
  return list
end

local function api_error(self, op, res, attempts, other)
  local token = self._settings.token
  local cls = res.status_code == 401 and errors.Unauthorized or errors.APIError
  local headers = {}
  for k, v in pairs(res.headers) do headers[k] = redact(v, token, other) end
  local e = errors.new(cls, {
    message = string.format("HTTP %d from %s", res.status_code, op),
    operation = op,
    status_code = res.status_code,
    content_type = redact(res.content_type, token, other),
    headers = headers,
    body = redact(res.body, token, other),
    attempts = attempts,
  })
  if cls == errors.Unauthorized then
    local list = {}
    local obj = res.object
    if type(obj) == "table" and type(obj.errors) == "table" then
      for _, item in ipairs(obj.errors) do
        if type(item) == "table" then
          list[#list + 1] = {
            code = redact(item.code, token, other),
            message = redact(item.message, token, other),
            status = redact(item.status, token, other),
          }
        end
      end
    end
    e.errors = list
  end
  return e
end

--- Runs one operation with hooks and retries. `check(res)` returns an error
-- message when a 2xx body is not what the operation expects.
local function call(self, op, method, target, check)
  local policy, hooks = self._policy, self._hooks
  local started = core.now()
  local attempt = 0
  while true do
    attempt = attempt + 1
    local ctx, list
    if hooks then
      ctx = { operation = op, attempt = attempt }
      if hooks.before_request then
        local named = {}
        for k, v in pairs(self._settings.named_headers) do named[k] = v end
        local req = { method = method, url = target, headers = named }
        hooks.before_request(ctx, req)
        if type(req.headers) ~= "table" then argument("req.headers must be a table") end
        list = redacting(self._settings.token, nil, header_list, self, req.headers)
      end
    end
    local res, a, b, c = self._session:perform(method, target, list)
    local err
    if res == nil then
      err = errors.new(errors.TransportError, {
        message = redact(c, self._settings.token), operation = op,
        reason = a, curl_code = b, attempts = attempt,
      })
    else
      setmetatable(res, Response)
      local status = res.status_code
      if status < 200 or status > 299 then
        err = api_error(self, op, res, attempt)
      elseif check then
        local msg = check(res)
        if msg then
          err = errors.new(errors.DecodeError, {
            message = msg .. " in the answer to " .. op, operation = op,
            status_code = status, content_type = redact(res.content_type, self._settings.token),
            body = redact(res.body, self._settings.token),
          })
        end
      end
    end
    if not err then
      if hooks and hooks.after_success then hooks.after_success(ctx, res) end
      return res
    end
    if hooks and hooks.after_error then hooks.after_error(ctx, res, err) end
    local wait
    if attempt < policy.max_attempts and retry.retryable(policy, method, err) then
      wait = retry.delay(policy, attempt, res and res.headers)
      if core.now() + wait - started > policy.max_elapsed_time then wait = nil end
    end
    if not wait then error(err, 0) end
    core.sleep(wait)
  end
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

--- Gets a transient token (`GET /security/token`).
-- @param[opt] type_ `"delegation"` (the only type), or a table `{type=, scope=}`
-- @param[opt] scope `"all"` (the only scope)
-- @treturn Response with `token`
function Client:get_transient_token(type_, scope)
  check_open(self)
  if type(type_) == "table" then
    type_, scope = type_.type, type_.scope
  end
  if type_ ~= nil and type_ ~= "delegation" then
    argument("type must be \"delegation\" (got %s)", tostring(type_))
  end
  if scope ~= nil and scope ~= "all" then
    argument("scope must be \"all\" (got %s)", tostring(scope))
  end
  return call(self, "getTransientToken", "GET", self._url_token, check_token)
end

--- Gets connection information and a transient token for a source the
-- server knows (`GET /security/resources`).
-- @param source `"server://<client identifier>"` and the like, or `{source=}`
-- @treturn Response with `device`
function Client:get_source_connection_information(source)
  check_open(self)
  if type(source) == "table" then source = source.source end
  if type(source) ~= "string" or not string.match(source, "^%a[%w+.-]*://.") then
    argument("source must be a string scheme://rest (got %s)",
             type(source) == "string" and string.format("%q", source) or type(source))
  end
  return call(self, "getSourceConnectionInformation", "GET",
              self.base .. "/security/resources?source=" .. url.escape(source),
              check_device)
end

--- Calls any Plex endpoint with this client's headers, retries and errors.
-- @tparam table req `{method="GET", path="/...", query={...}}`
-- @treturn Response (`object` nil when the body is not JSON)
function Client:request(req)
  check_open(self)
  if type(req) ~= "table" then argument("request takes a table (got %s)", type(req)) end
  local method = req.method or "GET"
  if type(method) ~= "string" or not string.match(method, "^%u+$") then
    argument("method must be an upper-case HTTP method (got %s)", tostring(method))
  end
  local path = req.path
  if type(path) ~= "string" or not string.match(path, "^/") or string.find(path, "[%s%c?#]") then
    argument("path must be a string starting with / (got %s)", tostring(path))
  end
  local target = self.base .. path
  if req.query ~= nil then
    if type(req.query) ~= "table" then argument("query must be a table") end
    for k, v in pairs(req.query) do
      local t = type(v)
      if type(k) ~= "string" or (t ~= "string" and t ~= "number" and t ~= "boolean") then
        argument("query.%s must be a string, number or boolean", tostring(k))
      end
    end
    local q = url.query(req.query)
    if q ~= "" then target = target .. "?" .. q end
  end
  for k in pairs(req) do
    if k ~= "method" and k ~= "path" and k ~= "query" then
      argument("request: unknown field %s", tostring(k))
    end
  end
  return call(self, "request", method, target)
end

--- Probes the device's connections in parallel (`GET /identity`) and
-- returns a new client on the best one that answers 2xx.
-- @tparam table device a `Response.device`
-- @tparam[opt] table opts `timeout` (probe, default 3), `allow_relay`, and
-- any client option for the new client
-- @treturn Client
-- @treturn table the chosen connection
function Client:connect_device(dev, opts)
  check_open(self)
  if type(dev) ~= "table" or type(dev.connections) ~= "table" then
    argument("device must be a table with connections (a Response.device)")
  end
  if opts ~= nil and type(opts) ~= "table" then
    argument("opts must be a table (got %s)", type(opts))
  end
  opts = opts or {}
  local probe_timeout = opts.timeout or 3
  local o = {}
  for k, v in pairs(self._opts) do o[k] = v end
  o.protocol, o.ip, o.port = nil, nil, nil
  o.token = dev.access_token
  for k, v in pairs(opts) do
    if k ~= "allow_relay" then o[k] = v end
  end
  if opts.allow_relay ~= nil and type(opts.allow_relay) ~= "boolean" then
    argument("allow_relay must be a boolean")
  end
  local candidates = device.preferred_connections(dev, opts)
  local urls, resolve = {}, {}
  for i, c in ipairs(candidates) do
    if type(c.uri) ~= "string" then argument("connection %d has no uri", i) end
    o.server_url = c.uri
    -- validates every candidate before any probe
    local s = redacting(self._settings.token, o.token, options.check, o)
    urls[i] = s.base .. "/identity"
    for _, e in ipairs(s.transport.resolve) do resolve[#resolve + 1] = e end
  end
  local checked = redacting(self._settings.token, o.token, options.check, o)
  local t = {}
  for k, v in pairs(checked.transport) do t[k] = v end
  t.timeout = probe_timeout
  t.connect_timeout = math.min(probe_timeout, t.connect_timeout)
  t.resolve = resolve
  t.headers = checked.headers -- identity only: probes send no token
  t.first_ok = true
  local results = #urls > 0 and core.probe(urls, t) or {}
  local failures = {}
  for i, c in ipairs(candidates) do
    local r = results[i]
    local res = r and r.response
    if res and res.status_code >= 200 and res.status_code <= 299 then
      o.server_url = c.uri
      return M.new(o), c
    end
    local e
    if res then
      e = api_error(self, "connectDevice", setmetatable(res, Response), 1, dev.access_token)
    else
      e = errors.new(errors.TransportError, {
        message = redact(r and r.message or "not probed", self._settings.token, dev.access_token),
        operation = "connectDevice",
        reason = r and r.reason or "other", curl_code = r and r.curl_code or 0,
        attempts = 1,
      })
    end
    failures[#failures + 1] = { uri = c.uri, error = e }
  end
  error(errors.new(errors.TransportError, {
    message = string.format("none of %d connections answered", #candidates),
    operation = "connectDevice", reason = "connect", curl_code = 7,
    attempts = 1, failures = failures,
  }), 0)
end

--- Releases the connection. Idempotent; later calls raise `ArgumentError`.
function Client:close()
  if self._session then
    self._session:close()
    self._session = nil
  end
end

Client.__close = Client.close
Client.__gc = Client.close

M.Client = Client
M.Response = Response

return M
