--- A plex.tv account: PIN login, sign-in (two-factor included), the
-- account's details, its devices and servers, and a client on one of them.
--
--     local account = plexauth.account{ client_identifier = "my-app-7f3a" }
--     local pin = account:create_pin()
--     print("go to " .. pin.auth_url .. " and enter " .. pin.code)
--     account:wait_for_pin(pin)                 -- the account token, kept
--     local server = account:servers()[1]
--     local client = account:connect_device(server)
--
-- Every call goes through the same machinery as a `Client`'s (hooks,
-- retries for GETs, TLS options, errors, redaction, the `loop` option).
-- @module plexauth.account
local core = require("plexauth.core")
local errors = require("plexauth.errors")
local options = require("plexauth.options")
local url = require("plexauth.url")
local device = require("plexauth.device")
local call = require("plexauth.call")
local connect = require("plexauth.connect")

local M = {}
local argument, describe = errors.argument, errors.describe

--- A plex.tv account client (`plexauth.account`).
---@class plexauth.Account
---@field base string plex.tv's base URL
local Account = {}
Account.__index = Account
Account.__name = "plexauth.Account"
M.Account = Account

-- What `create_pin` returns.
---@class plexauth.Pin
---@field id integer
---@field code string what the user enters (a short PIN) or what `auth_url` carries (a strong one)
---@field strong boolean
---@field expires_in integer|nil seconds it is valid for, from its creation (nil: plex.tv gave no lifetime)
---@field expires_at integer|nil epoch seconds (this machine's clock) it expires at
---@field auth_url string where the user goes: https://plex.tv/link, or for a strong PIN Plex's sign-in page

-- A plex.tv user (`sign_in`, `user`); fields plex.tv did not give are nil.
---@class plexauth.User
---@field id integer|nil
---@field uuid string|nil
---@field username string|nil
---@field title string|nil
---@field email string|nil
---@field friendly_name string|nil
---@field auth_token string|nil
---@field two_factor_enabled boolean|nil
---@field home boolean|nil
---@field object table the decoded body

-- The options of `plexauth.account`: a client's, but for the server's
-- address and `plex_direct`, and these.
---@class plexauth.AccountOptions: plexauth.CommonOptions
---@field client_identifier string required: keep it stable per installation
---@field product? string `X-Plex-Product`, the name users see under Authorized Devices (default "plexauth")
---@field plextv_url? string plex.tv's base URL, http or https (default "https://plex.tv")

-- The options of `wait_for_pin`.
---@class plexauth.WaitOptions
---@field interval? number seconds (> 0) between checks (default 1)
---@field timeout? number seconds (> 0) after which `TransportError` "timeout" is raised (default: none)
---@field on_wait? fun(pin: plexauth.Pin, seconds_left: number|nil) runs before each wait

-- What `sign_in` takes. `password` and `verification_code` are kept secret.
---@class plexauth.SignIn
---@field login string user name or email
---@field password string
---@field verification_code? string the two-factor code, after `TwoFactorRequired`
---@field remember_me? boolean (default false)

-- The options of `resources` and `servers`.
---@class plexauth.ResourcesOptions
---@field include_https? boolean (default true)
---@field include_relay? boolean (default true)
---@field include_ipv6? boolean (default true)

--- The options an account takes.
local KNOWN = { plextv_url = true }
for k in pairs(options.KNOWN) do KNOWN[k] = true end
for _, k in ipairs({ "server_url", "protocol", "ip", "port", "plex_direct" }) do KNOWN[k] = nil end

local PLEXTV = "https://plex.tv"
local LINK_URL = "https://plex.tv/link"
local AUTH_URL = "https://app.plex.tv/auth#?clientID=%s&code=%s&context%%5Bdevice%%5D%%5Bproduct%%5D=%s"

--- Creates an account client. `client_identifier` is required; `product`
-- defaults to "plexauth"; `plextv_url` to "https://plex.tv"; the other
-- options are a client's (identity, timeouts, retries, TLS, hooks, loop).
-- @tparam table opts
-- @treturn plexauth.Account
---@param opts plexauth.AccountOptions
---@return plexauth.Account
function M.new(opts)
  if type(opts) ~= "table" then
    argument("account options must be a table with client_identifier (got %s)", describe(opts))
  end
  for k in pairs(opts) do
    if not KNOWN[k] then argument("unknown account option %s", type(k) == "string" and k or describe(k)) end
  end
  if opts.client_identifier == nil then
    argument("client_identifier is required: a stable identifier of this installation")
  end
  local base = opts.plextv_url
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.plextv_url, o.server_url = nil, base or PLEXTV
  if o.product == nil then o.product = "plexauth" end
  local s = call.redacting({ opts.token }, options.check, o, nil, "plextv_url")
  -- The token goes with each call: it changes when a PIN is linked.
  local token = s.token
  s.token = nil
  local self = setmetatable({ base = s.base }, Account)
  o.server_url = nil
  call.setup(self, s, o)
  if token then call.set_token(self, token) end
  return self
end

function Account:__tostring()
  return string.format("plexauth.Account (%s%s)", self.base, self._driver and "" or ", closed")
end

local function check_open(self)
  if getmetatable(self) ~= Account then
    argument("method called on %s, not an Account (use account:method)", describe(self))
  end
  if not self._driver then argument("account is closed") end
  if self._loop then self._driver:check() end
end

local function need_token(self, what)
  if not self._settings.token then
    argument("%s needs the account token: give the token option, or link a PIN or sign in first", what)
  end
end

local function opt_table(what, t, known)
  if t == nil then return {} end
  if type(t) ~= "table" then argument("%s: options must be a table (got %s)", what, describe(t)) end
  errors.check_keys(what, t, known)
  return t
end

local function is_integer(v)
  return type(v) == "number" and v == math.floor(v) and v > -2 ^ 53 and v < 2 ^ 53
end

-- An integral number as an integer (Lua 5.3+: subtype integer).
local function int(v)
  v = tonumber(v)
  if v and math.tointeger then return math.tointeger(v) or v end
  return v
end

-- Seconds since the epoch of an ISO-8601 UTC time ("2026-12-02T18:48:50Z",
-- fractions allowed), or nil.
local function iso_epoch(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec = string.match(s, "^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)")
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  -- days from 1970-01-01 in the proleptic Gregorian calendar
  if mo <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * ((mo + 9) % 12) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
end

local function user_of(obj)
  local function str(v) return type(v) == "string" and v or nil end
  local function bool(v) if type(v) == "boolean" then return v end end
  return {
    id = is_integer(obj.id) and int(obj.id) or nil,
    uuid = str(obj.uuid),
    username = str(obj.username),
    title = str(obj.title),
    email = str(obj.email),
    friendly_name = str(obj.friendlyName),
    auth_token = str(obj.authToken),
    two_factor_enabled = bool(obj.twoFactorEnabled),
    home = bool(obj.home),
    object = obj,
  }
end

local function check_user(res)
  local obj = res.object
  if type(obj) ~= "table" then return "body is not a JSON object" end
  if obj.id == nil and obj.uuid == nil and obj.username == nil then return "no user" end
end

local function check_pin_body(res)
  local obj = res.object
  if type(obj) ~= "table" then return "body is not a JSON object" end
  if not is_integer(obj.id) or type(obj.code) ~= "string" or obj.code == "" then
    return "no PIN id and code"
  end
end

local PIN_ARGS = { strong = true }

--- Creates a PIN (`POST /api/v2/pins`): the user enters its code at
-- `pin.auth_url` (a short PIN at https://plex.tv/link; a strong one opens
-- Plex's sign-in page with the code in the URL).
-- @tparam[opt] table opts `{strong = true}` for the browser flow
-- @treturn plexauth.Pin
---@param opts? {strong?: boolean} `strong = true` for the browser flow
---@return plexauth.Pin
function Account:create_pin(opts)
  check_open(self)
  opts = opt_table("create_pin", opts, PIN_ARGS)
  if opts.strong ~= nil and type(opts.strong) ~= "boolean" then
    argument("strong must be a boolean (got %s)", describe(opts.strong))
  end
  local strong = opts.strong == true
  local res = call.run(self, { op = "createPin", method = "POST",
                               url = self.base .. "/api/v2/pins" .. (strong and "?strong=true" or ""),
                               body = "", check = check_pin_body })
  local obj = res.object
  local expires_in = int(obj.expiresIn)
  local expires_at = int(expires_in and os.time() + expires_in or iso_epoch(obj.expiresAt))
  local s = self._settings.named_headers
  return {
    id = int(obj.id),
    code = obj.code,
    strong = strong,
    expires_in = expires_in or (expires_at and expires_at - os.time()),
    expires_at = expires_at,
    auth_url = strong and string.format(AUTH_URL, url.escape(s["X-Plex-Client-Identifier"]),
                                         url.escape(obj.code), url.escape(s["X-Plex-Product"]))
               or LINK_URL,
  }
end

local function check_pin_arg(pin)
  if type(pin) ~= "table" or not is_integer(pin.id) then
    argument("pin must be a table with an integer id (a Pin from create_pin; got %s)", describe(pin))
  end
  if pin.expires_at ~= nil and type(pin.expires_at) ~= "number" then
    argument("pin.expires_at must be a number (got %s)", describe(pin.expires_at))
  end
end

local function expired(pin, why)
  return errors.new(errors.PinExpired, {
    message = string.format("PIN %d %s before it was linked", pin.id, why),
    operation = "checkPin", pin_id = pin.id,
  })
end

local NO_RETRY_429 = { [429] = true }

-- One check: the token, or nil; nil and an error with `soft` (for
-- `wait_for_pin`, which waits out a 429 itself, within its timeout and the
-- PIN's life, rather than the retry policy's back-off).
local function check(self, pin, soft)
  local function fail(err)
    if soft then return nil, err end
    errors.raise(err)
  end
  if pin.expires_at and os.time() >= pin.expires_at then return fail(expired(pin, "expired")) end
  local res, err = call.run(self, { op = "checkPin", method = "GET",
                                    url = self.base .. "/api/v2/pins/" .. string.format("%d", pin.id),
                                    soft = true, no_retry = soft and NO_RETRY_429 or nil })
  if not res then
    if errors.is(err, errors.APIError) and err.status_code == 404 then
      return fail(expired(pin, "expired (plex.tv no longer knows it)"))
    end
    return fail(err)
  end
  local obj = res.object
  local token = type(obj) == "table" and obj.authToken
  if type(token) == "string" and token ~= "" then
    call.set_token(self, token)
    return token
  end
  if pin.expires_at and os.time() >= pin.expires_at then return fail(expired(pin, "expired")) end
  return nil
end

--- Checks a PIN once (`GET /api/v2/pins/{id}`): the account token once the
-- user has linked it (the account uses it from then on), else nil.
-- Raises `PinExpired` when plex.tv no longer knows the PIN or it expired.
-- @tparam plexauth.Pin pin
-- @treturn string|nil the account token
---@param pin plexauth.Pin
---@return string|nil token the account token, nil while the PIN is not linked
function Account:check_pin(pin)
  check_open(self)
  check_pin_arg(pin)
  return check(self, pin, false)
end

local WAIT_ARGS = { interval = true, timeout = true, on_wait = true }

--- Checks the PIN every `interval` seconds (default 1) until the user links
-- it, and returns the account token (the account uses it from then on).
-- A 429 is waited out for its `Retry-After` (no longer than the PIN lives
-- or `timeout` allows). `on_wait(pin, seconds_left)`
-- runs before each wait; `seconds_left` is the time until the PIN expires
-- (or `timeout` passes, when sooner). Raises `PinExpired` when the PIN
-- expires first, `TransportError` (`reason = "timeout"`) when `timeout`
-- seconds pass first.
-- @tparam plexauth.Pin pin
-- @tparam[opt] table opts `interval`, `timeout`, `on_wait`
-- @treturn string the account token
---@param pin plexauth.Pin
---@param opts? plexauth.WaitOptions
---@return string token the account token
function Account:wait_for_pin(pin, opts)
  check_open(self)
  check_pin_arg(pin)
  opts = opt_table("wait_for_pin", opts, WAIT_ARGS)
  local interval, timeout, on_wait = opts.interval or 1, opts.timeout, opts.on_wait
  if type(interval) ~= "number" or interval ~= interval or interval <= 0 or interval == math.huge then
    argument("interval must be a number > 0 (got %s)", describe(interval))
  end
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout <= 0) then
    argument("timeout must be a number > 0 (got %s)", describe(timeout))
  end
  if on_wait ~= nil and type(on_wait) ~= "function" then
    argument("on_wait must be a function (got %s)", describe(on_wait))
  end
  local deadline = timeout and core.now() + timeout
  local drv = self._driver
  while true do
    local token, err = check(self, pin, true)
    if token then return token end
    local wait = interval
    if err then
      if not (errors.is(err, errors.APIError) and err.status_code == 429) then errors.raise(err) end
      wait = tonumber(err.headers["retry-after"]) or interval
    end
    local left = pin.expires_at and pin.expires_at - os.time()
    if left and wait > left then wait = math.max(left, 0) end -- it expires first
    if deadline then
      local t = deadline - core.now()
      if t <= 0 then
        errors.raise(errors.new(errors.TransportError, {
          message = string.format("PIN %d was not linked within %g s", pin.id, timeout),
          operation = "waitForPin", reason = "timeout", curl_code = 28, attempts = 1,
        }))
      end
      if not left or t < left then left = t end
      if wait > t then wait = t end
    end
    if on_wait then on_wait(pin, left) end
    if not drv:sleep(wait) then
      errors.raise(call.cancelled("waitForPin", self.base .. "/api/v2/pins", 1))
    end
  end
end

local SIGN_IN_ARGS = { login = true, password = true, verification_code = true, remember_me = true }

local XML_ESCAPES = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }
local JSON_ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
                       ["\r"] = "\\r", ["\t"] = "\\t" }

-- `s` JSON-escaped; with `html`, `<`, `>` and `&` as `\u00XX` too (as Go's
-- encoder writes them).
local function json_escape(s, html)
  return (string.gsub(s, html and '[%c"\\<>&]' or '[%c"\\]', function(c)
    return JSON_ESCAPES[c] or string.format("\\u%04x", string.byte(c))
  end))
end

-- The forms the secrets of `list` (strings; others skipped) take in an
-- answer that echoes them: as given, as sent (percent-encoded, or `+` for
-- a space), JSON-escaped (`/` as `\/` or not; `<>&` as `\u00XX` or not)
-- and XML-escaped (`'` as `&#39;` or not); longest first, so that no form is left half redacted.
local function secret_forms(list)
  local forms, seen = {}, {}
  local function add(f)
    if not seen[f] then
      seen[f] = true
      forms[#forms + 1] = f
    end
  end
  for i = 1, #list do
    local s = list[i]
    if type(s) == "string" and s ~= "" then
      add(s)
      local sent = url.escape(s)
      add(sent)
      add((string.gsub(sent, "%%20", "+")))
      local json = json_escape(s)
      add(json)
      add((string.gsub(json, "/", "\\/")))
      add(json_escape(s, true))
      add((string.gsub(s, "[&<>\"']", XML_ESCAPES)))
      add((string.gsub(s, "[&<>\"]", XML_ESCAPES))) -- `'` kept as it is
    end
  end
  table.sort(forms, function(a, b) return #a > #b end)
  return forms
end

--- Signs in with a login (user name or email) and password
-- (`POST /api/v2/users/signin`, never retried). The password and the
-- verification code appear in no error, hook argument or result. Raises
-- `TwoFactorRequired` when the account needs a verification code (401 code
-- 1029), `Unauthorized` for other refusals.
-- @tparam table t `{login=, password= [, verification_code=, remember_me=]}`
-- @treturn plexauth.User (the account uses its token from then on)
---@param t plexauth.SignIn
---@return plexauth.User user (the account uses its token from then on)
function Account:sign_in(t)
  check_open(self)
  if type(t) ~= "table" then argument("sign_in takes a table {login=, password=} (got %s)", describe(t)) end
  local secrets = secret_forms({ t.password, t.verification_code })
  local function bad(fmt, ...)
    call.redacting(secrets, errors.argument, fmt, ...)
  end
  for k in pairs(t) do
    if not SIGN_IN_ARGS[k] then bad("sign_in: unknown field %s", type(k) == "string" and k or describe(k)) end
  end
  if type(t.login) ~= "string" or t.login == "" then
    bad("login must be a non-empty string (got %s)", t.login == nil and "nil" or type(t.login))
  end
  if type(t.password) ~= "string" or t.password == "" then
    bad("password must be a non-empty string (got %s)", type(t.password))
  end
  local code = t.verification_code
  if code ~= nil and (type(code) ~= "string" or code == "") then
    bad("verification_code must be a non-empty string (got %s)", type(code))
  end
  if t.remember_me ~= nil and type(t.remember_me) ~= "boolean" then
    bad("remember_me must be a boolean (got %s)", describe(t.remember_me))
  end
  local body = "login=" .. url.escape(t.login) .. "&password=" .. url.escape(t.password)
    .. "&rememberMe=" .. (t.remember_me and "true" or "false")
    .. (code and "&verificationCode=" .. url.escape(code) or "")
  local res, err = call.run(self, { op = "signIn", method = "POST", url = self.base .. "/api/v2/users/signin",
                                    body = body, check = check_user, secrets = secrets, scrub = true,
                                    retry = false, soft = true,
                                    why_401 = "the login or password was rejected" })
  if not res then
    if errors.is(err, errors.Unauthorized) then
      for _, e in ipairs(err.errors) do
        if tonumber(e.code) == 1029 then
          setmetatable(err, errors.TwoFactorRequired)
          err.kind = errors.TwoFactorRequired.kind
          err.message = "HTTP 401 from signIn: the account needs a verification code (verification_code)"
        end
      end
    end
    errors.raise(err)
  end
  local user = user_of(res.object)
  if user.auth_token then call.set_token(self, user.auth_token) end
  return user
end

--- The account's details (`GET /api/v2/user`). `Unauthorized` for a bad
-- token, and for 422 (plex.tv's answer to a revoked one).
-- @treturn plexauth.User
---@return plexauth.User
function Account:user()
  check_open(self)
  need_token(self, "user")
  local res = call.run(self, { op = "getUser", method = "GET", url = self.base .. "/api/v2/user",
                               check = check_user, unauthorized = { [422] = true } })
  return user_of(res.object)
end

local RESOURCE_ARGS = { include_https = true, include_relay = true, include_ipv6 = true }
local RESOURCE_FLAGS = { { "include_https", "includeHttps" }, { "include_relay", "includeRelay" },
                         { "include_ipv6", "includeIPv6" } }

local function check_devices(res)
  if type(res.object) ~= "table" or not string.match(res.body, "^%s*%[") then
    return "body is not a JSON array of devices"
  end
end

--- The account's devices (`GET /api/v2/resources`), normalized like
-- `Response.device` (connections with `ipv6` too) plus plex.tv's fields:
-- `product`, `product_version`, `platform`, `platform_version`, `provides`
-- (a list), `owned`, `home`, `presence`, `https_required`,
-- `public_address`, `source_title`.
-- @tparam[opt] table opts `include_https`, `include_relay`, `include_ipv6`
--   (each default true)
-- @treturn {plexauth.Resource,...}
---@param opts? plexauth.ResourcesOptions
---@return plexauth.Resource[]
function Account:resources(opts)
  check_open(self)
  opts = opt_table("resources", opts, RESOURCE_ARGS)
  local q = {}
  for _, pair in ipairs(RESOURCE_FLAGS) do -- in the order plex.tv's clients send them
    local k, v = pair[1], opts[pair[1]]
    if v ~= nil and type(v) ~= "boolean" then argument("%s must be a boolean (got %s)", k, describe(v)) end
    q[#q + 1] = pair[2] .. "=" .. (v == false and "0" or "1")
  end
  need_token(self, "resources")
  local res = call.run(self, { op = "getResources", method = "GET",
                               url = self.base .. "/api/v2/resources?" .. table.concat(q, "&"),
                               check = check_devices, unauthorized = { [422] = true } })
  local list = {}
  for _, d in ipairs(res.object) do list[#list + 1] = device.from_resource(d) end
  return list
end

--- The devices of `resources` that provide "server".
-- @tparam[opt] table opts as for `resources`
-- @treturn {plexauth.Resource,...}
---@param opts? plexauth.ResourcesOptions
---@return plexauth.Resource[]
function Account:servers(opts)
  local list = {}
  for _, d in ipairs(self:resources(opts)) do
    for _, p in ipairs(d.provides) do
      if p == "server" then list[#list + 1] = d; break end
    end
  end
  return list
end

--- Probes the device's connections and returns a `Client` on the best one,
-- with the device's access token and this account's identity, TLS options,
-- retries, hooks and loop (any client option in `opts` overrides), and the
-- chosen connection. As `Client:connect_device`.
-- @tparam plexauth.Device dev
-- @tparam[opt] table opts
-- @treturn plexauth.Client
-- @treturn plexauth.Connection
---@param dev plexauth.Device a device of `resources`, or a `Response.device`
---@param opts? plexauth.ConnectOptions
---@return plexauth.Client client on the best connection, with `dev.access_token` as its token
---@return plexauth.Connection conn the chosen connection
function Account:connect_device(dev, opts)
  check_open(self)
  return connect.device(self, self._opts, dev, opts, require("plexauth").new)
end

--- Keeps the token alive (`GET /api/v2/ping`).
function Account:ping()
  check_open(self)
  need_token(self, "ping")
  call.run(self, { op = "ping", method = "GET", url = self.base .. "/api/v2/ping",
                   unauthorized = { [422] = true } })
end

--- Releases the connection. Idempotent; later calls raise `ArgumentError`.
function Account:close()
  local drv = self._driver
  if drv then
    self._driver = nil
    drv:close()
  end
end

Account.__close = Account.close
Account.__gc = Account.close

return M
