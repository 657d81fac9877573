--- Validating client options and turning them into transport settings.
-- @module plexauth.options
local core = require("plexauth.core")
local errors = require("plexauth.errors")
local url = require("plexauth.url")

local M = {}
local argument, describe = errors.argument, errors.describe

local function lua_version()
  if type(jit) == "table" and jit.version then return jit.version end
  return _VERSION
end

--- The version, as in `plexauth._VERSION`.
M.VERSION = require("plexauth.version")

--- The User-Agent sent when the `user_agent` option is not given.
M.USER_AGENT = string.format("plexauth/%s (%s; libcurl %s)", M.VERSION, lua_version(),
                             core.curl_version)

--- Identity options and the headers they are sent as, in sending order.
M.identity = {
  { "client_identifier", "X-Plex-Client-Identifier" },
  { "product", "X-Plex-Product" },
  { "version", "X-Plex-Version" },
  { "platform", "X-Plex-Platform" },
  { "platform_version", "X-Plex-Platform-Version" },
  { "device", "X-Plex-Device" },
  { "model", "X-Plex-Model" },
  { "device_vendor", "X-Plex-Device-Vendor" },
  { "device_name", "X-Plex-Device-Name" },
  { "marketplace", "X-Plex-Marketplace" },
}

local KNOWN = {
  server_url = true, protocol = true, ip = true, port = true, token = true,
  timeout = true, connect_timeout = true, retries = true, verify_tls = true,
  ca_file = true, max_response_bytes = true, user_agent = true,
  resolve = true, plex_direct = true, hooks = true, loop = true,
}
for _, pair in ipairs(M.identity) do KNOWN[pair[1]] = true end

local RETRY_KEYS = {
  max_attempts = "count", initial_interval = "seconds", max_interval = "seconds",
  exponent = "exponent", max_elapsed_time = "seconds",
  retry_connection_errors = "boolean", status_codes = "codes",
}

local HOOKS = { before_request = true, after_success = true, after_error = true }

local function is_integer(v)
  return type(v) == "number" and v == math.floor(v) and v > -math.huge and v < math.huge
end

--- Raises `ArgumentError` unless `v` is a string free of CR, LF and NUL.
function M.check_header_value(name, v)
  if type(v) ~= "string" then
    argument("%s must be a string (got %s)", name, describe(v))
  end
  if string.find(v, "[\r\n%z]") then
    argument("%s must not contain CR, LF or NUL", name)
  end
  return v
end

local function check_string(opts, k)
  local v = opts[k]
  if v == nil then return nil end
  M.check_header_value(k, v)
  if v == "" then argument("%s must not be empty", k) end
  return v
end

local function check_number(opts, k, min_exclusive)
  local v = opts[k]
  if v == nil then return nil end
  if type(v) ~= "number" or v ~= v or v == math.huge or v <= min_exclusive then
    argument("%s must be a number > %s (got %s)", k, min_exclusive, describe(v))
  end
  return v
end

local function check_boolean(opts, k)
  local v = opts[k]
  if v ~= nil and type(v) ~= "boolean" then
    argument("%s must be a boolean (got %s)", k, describe(v))
  end
  return v
end

local function check_retries(r)
  if r == nil or r == false then return r end
  if type(r) ~= "table" then
    argument("retries must be a table or false (got %s)", describe(r))
  end
  for k, v in pairs(r) do
    local kind = RETRY_KEYS[k]
    local bad
    if not kind then
      argument("retries: unknown field %s", type(k) == "string" and k or describe(k))
    elseif kind == "count" then
      bad = not is_integer(v) or v < 1
    elseif kind == "seconds" then
      bad = type(v) ~= "number" or v ~= v or v < 0 or v == math.huge
    elseif kind == "exponent" then
      bad = type(v) ~= "number" or v ~= v or v < 1 or v == math.huge
    elseif kind == "boolean" then
      bad = type(v) ~= "boolean"
    else
      bad = type(v) ~= "table"
      if not bad then
        for _, c in pairs(v) do
          if not is_integer(c) or c < 100 or c > 599 then bad = true end
        end
      end
    end
    if bad then argument("retries.%s has a bad value (got %s)", k, describe(v)) end
  end
  return r
end

--- Validates a `resolve` entry `host:port:address`.
function M.check_resolve_entry(e)
  if type(e) ~= "string" then argument("resolve entries must be strings (got %s)", describe(e)) end
  local host, port, addr = string.match(e, "^([^:%[%]%s]+):(%d+):(.+)$")
  if addr then addr = string.match(addr, "^%[(.*)%]$") or addr end
  local p = tonumber(port)
  if not host or not p or p < 1 or p > 65535
     or not (url.is_ipv4(addr) or url.is_ipv6(addr)) then
    argument("resolve entry %q is not host:port:address", e)
  end
  return e
end

local function check_hooks(h)
  if h == nil then return nil end
  if type(h) ~= "table" then argument("hooks must be a table (got %s)", describe(h)) end
  for k, v in pairs(h) do
    if not HOOKS[k] then argument("hooks: unknown hook %s", type(k) == "string" and k or describe(k)) end
    if type(v) ~= "function" then argument("hooks.%s must be a function (got %s)", k, describe(v)) end
  end
  return h
end

local function check_loop(l)
  if l ~= nil and not require("plexauth.loop").is_loop(l) then
    argument("loop must be a loop from plexauth.loops (got %s)", describe(l))
  end
  return l
end

--- The names of the client options (a set).
M.KNOWN = KNOWN

--- Checks `opts` as given to `plexauth.new` and returns the settings the
-- client keeps: `base` URL, the header list, transport options, retries,
-- hooks and loop. Raises `ArgumentError` on anything wrong.
-- @tparam table opts
-- @tparam[opt] table known the option names allowed (a set; default: the
--   client's)
-- @tparam[opt] string url_name what errors call `server_url` (default
--   "server_url"; an account's is its `plextv_url`)
function M.check(opts, known, url_name)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then argument("options must be a table (got %s)", describe(opts)) end
  for k in pairs(opts) do
    if not (known or KNOWN)[k] then
      argument("unknown option %s", type(k) == "string" and k or describe(k))
    end
  end
  local base
  local server_url = opts.server_url
  if server_url ~= nil then
    if type(server_url) ~= "string" then
      argument("%s must be a string (got %s)", url_name or "server_url", describe(server_url))
    end
    local scheme, host, port = url.split(server_url)
    if not scheme or (scheme ~= "http" and scheme ~= "https")
       or (port and (port < 1 or port > 65535))
       or string.find(server_url, "[%s%c?#]") then
      argument("%s must be an http or https URL (got %q)", url_name or "server_url", server_url)
    end
    base = string.gsub(server_url, "/+$", "")
    if host then base = string.gsub(base, "^%a+", scheme) end
  else
    local protocol = opts.protocol or "http"
    if protocol ~= "http" and protocol ~= "https" then
      argument("protocol must be \"http\" or \"https\" (got %s)", describe(protocol))
    end
    local ip = opts.ip or "127.0.0.1"
    if type(ip) ~= "string" or ip == "" or string.find(ip, "[%s%c/?#@]") then
      argument("ip must be a host name or address (got %s)", describe(ip))
    end
    local port = opts.port or 32400
    if not is_integer(port) or port < 1 or port > 65535 then
      argument("port must be an integer 1-65535 (got %s)", describe(port))
    end
    base = string.format("%s://%s:%d", protocol, url.bracket(ip), port)
  end

  local token = check_string(opts, "token")
  local headers = { "Accept: application/json" }
  local named = { Accept = "application/json" }
  for _, pair in ipairs(M.identity) do
    local v = check_string(opts, pair[1])
    if v then
      headers[#headers + 1] = pair[2] .. ": " .. v
      named[pair[2]] = v
    end
  end
  local ua = opts.user_agent
  if ua ~= nil then M.check_header_value("user_agent", ua) end
  check_number(opts, "timeout", 0)
  check_number(opts, "connect_timeout", 0)
  local max = opts.max_response_bytes
  if max ~= nil and (not is_integer(max) or max < 1) then
    argument("max_response_bytes must be a positive integer (got %s)", describe(max))
  end
  check_boolean(opts, "verify_tls")
  check_boolean(opts, "plex_direct")
  local ca = check_string(opts, "ca_file")
  if ca then
    local f = io.open(ca, "rb")
    if not f then argument("ca_file %q cannot be read", ca) end
    f:close()
  end
  -- The plex.direct pin goes first: libcurl lets a later entry for the same
  -- host and port replace it, so an explicit `resolve` entry wins.
  local resolve = {}
  local pin = opts.plex_direct ~= false and url.plex_direct_pin(base)
  if pin then resolve[1] = pin end
  if opts.resolve ~= nil then
    if type(opts.resolve) ~= "table" then
      argument("resolve must be a table of strings (got %s)", describe(opts.resolve))
    end
    for k in pairs(opts.resolve) do
      if not is_integer(k) or k < 1 or k > #opts.resolve then
        argument("resolve must be a list of strings (has key %s)", describe(k))
      end
    end
    for _, e in ipairs(opts.resolve) do resolve[#resolve + 1] = M.check_resolve_entry(e) end
  end

  return {
    base = base,
    token = token,
    named_headers = named,
    headers = headers,
    user_agent = ua,
    agent = ua or M.USER_AGENT,
    transport = {
      timeout = opts.timeout or 30,
      connect_timeout = opts.connect_timeout or 10,
      verify_tls = opts.verify_tls ~= false,
      ca_file = ca,
      max_response_bytes = max or 1048576,
      resolve = resolve,
    },
    retries = check_retries(opts.retries),
    hooks = check_hooks(opts.hooks),
    loop = check_loop(opts.loop),
  }
end

return M
