--- The call state machine: hooks, attempts, retries and back-off, errors and
-- redaction — one implementation for every operation of `Client` and
-- `Account`, in blocking and non-blocking mode alike. How an attempt is
-- sent and how a back-off waits is the driver's (`plexauth.driver`).
--
-- A caller is an object with `_settings` (from `plexauth.options.check`),
-- `_policy` (from `plexauth.retry.policy`), `_hooks` and `_driver`.
-- @module plexauth.call
local core = require("plexauth.core")
local driver = require("plexauth.driver")
local errors = require("plexauth.errors")
local options = require("plexauth.options")
local retry = require("plexauth.retry")
local url = require("plexauth.url")
local Response = require("plexauth.response")

local M = {}
local argument = errors.argument

--- The header list of settings `s` (from `plexauth.options.check`):
-- identity headers, the token, User-Agent.
function M.headers(s)
  local list = {}
  for i, h in ipairs(s.headers) do list[i] = h end
  if s.token then list[#list + 1] = "X-Plex-Token: " .. s.token end
  list[#list + 1] = "User-Agent: " .. s.agent
  return list
end

--- Makes `self` a caller for settings `s`: retry policy, hooks, and the
-- driver (a blocking session, or a multi on `s.loop`) configured with the
-- transport options and `M.headers(s)`. `opts` is kept as `_opts` (the
-- options a client made by `connect_device` starts from).
function M.setup(self, s, opts)
  self._opts, self._settings = opts, s
  self._policy, self._hooks, self._loop = retry.policy(s.retries), s.hooks, s.loop
  local t = {}
  for k, v in pairs(s.transport) do t[k] = v end
  t.headers = M.headers(s)
  if s.loop then
    self._driver = driver.loop(s.loop, core.multi(t))
  else
    local session = core.session()
    session:configure(t)
    self._driver = driver.blocking(session)
  end
  return self
end

--- Makes the caller send `token` from now on (nil: none).
function M.set_token(self, token)
  self._settings.token = token
  self._headers = M.headers(self._settings) -- sent with each call instead
end

--- Replaces every secret of the list `secrets` (strings; others skipped)
-- in `s` with `<redacted>`; a non-string `s` is returned as it is.
-- @param s
-- @tparam table secrets
function M.redact(s, secrets)
  if type(s) ~= "string" then return s end
  for i = 1, #secrets do
    local secret = secrets[i]
    if type(secret) == "string" and secret ~= "" then
      local a, b = string.find(s, secret, 1, true)
      while a do
        s = string.sub(s, 1, a - 1) .. "<redacted>" .. string.sub(s, b + 1)
        a, b = string.find(s, secret, a + 10, true)
      end
    end
  end
  return s
end
local redact = M.redact

--- Calls `fn(...)` and raises its error again with the secrets replaced in
-- the message: argument errors may quote a caller's value that holds one.
function M.redacting(secrets, fn, ...)
  local ok, r = pcall(fn, ...)
  if ok then return r end
  if errors.is(r) then r.message = redact(r.message, secrets) end
  error(r, 0)
end

--- The secrets of a caller: its token, and `extra` ones.
function M.secrets(self, extra)
  local list = { self._settings.token }
  if extra then for i = 1, #extra do list[#list + 1] = extra[i] end end
  return list
end

-- Builds the curl header list from the name -> value map a hook returned.
-- Names are case-insensitive: when a hook sets a name that differs only in
-- case from another, the one the hook set or changed wins, and it replaces
-- the token and User-Agent headers too.
local function header_list(s, named)
  local original = s.named_headers
  local chosen = {} -- lower-case name -> key in named
  for k, v in pairs(named) do
    if type(k) ~= "string" or not string.match(k, "^[%w!#$%%&'*+.^_`|~-]+$") then
      argument("header name %s is not valid", errors.describe(k))
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
    list[#list + 1] = "User-Agent: " .. s.agent
  end
  return list
end

-- What a 401 means for the caller: `why` when the operation says (sign-in),
-- else by whether a token was sent; with the server's own message first.
local function hint_401(self, res, why)
  local list = res.object and type(res.object) == "table" and res.object.errors
  local first = type(list) == "table" and type(list[1]) == "table" and list[1]
  local said = first and type(first.message) == "string" and first.message
  local token = self._settings.token
  if not why then why = token and "the token was rejected" or "no token was sent" end
  if said then return said .. " (" .. why .. ")" end
  if why ~= "the token was rejected" and why ~= "no token was sent" then return why end
  return why .. (token and " (is it expired or revoked?)" or " (give the token option)")
end

--- The `APIError` (or `Unauthorized`) for a non-2xx response.
-- @param self the caller
-- @tparam string op operation id
-- @param res the response
-- @tparam integer attempts
-- @tparam table secrets
-- @tparam[opt] table unauthorized statuses besides 401 that mean Unauthorized
-- @tparam[opt] string why what a 401 means, when not a rejected token
function M.api_error(self, op, res, attempts, secrets, unauthorized, why)
  local status = res.status_code
  local cls = (status == 401 or (unauthorized and unauthorized[status])) and errors.Unauthorized
              or errors.APIError
  local headers = {}
  for k, v in pairs(res.headers) do headers[k] = redact(v, secrets) end
  local message = string.format("HTTP %d from %s", status, op)
  if cls == errors.Unauthorized then message = message .. ": " .. hint_401(self, res, why) end
  local e = errors.new(cls, {
    message = redact(message, secrets),
    operation = op,
    status_code = status,
    content_type = redact(res.content_type, secrets),
    headers = headers,
    body = redact(res.body, secrets),
    attempts = attempts,
  })
  if cls == errors.Unauthorized then
    local list = {}
    local obj = res.object
    if type(obj) == "table" and type(obj.errors) == "table" then
      for _, item in ipairs(obj.errors) do
        if type(item) == "table" then
          list[#list + 1] = {
            code = redact(item.code, secrets),
            message = redact(item.message, secrets),
            status = redact(item.status, secrets),
          }
        end
      end
    end
    e.errors = list
  end
  return e
end

-- "host:port" of an http(s) URL.
local function host_port(u)
  local scheme, host, port = url.split(u)
  if not scheme then return u end
  return url.bracket(host) .. ":" .. (port or (scheme == "https" and 443 or 80))
end

--- The `TransportError` for a transfer that got no complete response.
-- @param op operation id
-- @param target the URL
-- @param reason the core's reason ("timeout", "connect", "tls", ...)
-- @param curl_code the core's CURLcode
-- @param message the core's message
-- @param attempts how many attempts ran (for the "after N attempts" suffix)
-- @param secrets strings to redact from the message
function M.transport_error(op, target, reason, curl_code, message, attempts, secrets)
  local where = host_port(target)
  local _, host = url.split(target)
  if reason == "tls" and string.find(message, "wrong version number", 1, true) then
    message = string.format("TLS handshake with %s failed: the server does not speak TLS there"
      .. " (use http:// instead of https://?)", where)
  elseif reason == "cancelled" then
    message = string.format("%s to %s cancelled", op, where)
  elseif host and not string.find(message, host, 1, true) then
    message = where .. ": " .. message
  end
  return errors.new(errors.TransportError, {
    message = redact(message, secrets), operation = op,
    reason = reason, curl_code = curl_code, attempts = attempts,
  })
end

--- The `TransportError` of a call cancelled between attempts.
function M.cancelled(op, target, attempts)
  return M.transport_error(op, target, "cancelled", 42, "", attempts, {})
end

-- Adds the attempts to the message of a call's final error; raises it, or
-- with `soft` returns nil and it.
local function finish(err, attempts, started, soft)
  if attempts > 1 then
    err.message = string.format("%s (after %d attempts, %.1f s)", err.message, attempts,
                                core.now() - started)
  end
  if soft then return nil, err end
  errors.raise(err)
end

--- A copy of `v` with the secrets replaced in every string (keys too).
function M.scrub(v, secrets)
  if type(v) == "string" then return redact(v, secrets) end
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[M.scrub(k, secrets)] = M.scrub(x, secrets) end
  return setmetatable(out, getmetatable(v))
end

--- Runs one operation: attempts with hooks until one succeeds or no retry
-- is left. `spec` holds `op` (operation id), `method`, `url`, and optional
-- `body` (a POST body), `check(res)` (returns a message when a 2xx body is
-- not what the operation expects), `secrets` (more strings to keep out of
-- errors), `scrub` (keep them out of the response too: hooks and the
-- caller see it without them), `retry = false` (never retried),
-- `unauthorized` (a set of statuses besides 401 that mean Unauthorized),
-- `why_401` (what a 401 means, when not a rejected token), `no_retry`
-- (a set of statuses the caller handles itself: never retried here) and
-- `soft` (return nil and the error instead of raising it).
-- @return the `Response`
function M.run(self, spec)
  local policy, hooks, drv = self._policy, self._hooks, self._driver
  local op, method, target = spec.op, spec.method, spec.url
  local secrets -- M.secrets(self, spec.secrets), built when an error or a hook needs it
  local max = spec.retry == false and 1 or policy.max_attempts
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
        secrets = secrets or M.secrets(self, spec.secrets)
        list = M.redacting(secrets, header_list, self._settings, req.headers)
      end
    end
    local res, a, b, c = drv:perform(method, target, list or self._headers, spec.body)
    local err
    if res == nil then
      secrets = secrets or M.secrets(self, spec.secrets)
      err = M.transport_error(op, target, a, b, c, attempt, secrets)
    else
      setmetatable(res, Response)
      if spec.scrub then -- the caller's secrets, not the token the answer carries
        local own = spec.secrets
        res.body, res.content_type = redact(res.body, own), redact(res.content_type, own)
        res.headers, res.object = M.scrub(res.headers, own), M.scrub(res.object, own)
      end
      local status = res.status_code
      if status < 200 or status > 299 then
        secrets = secrets or M.secrets(self, spec.secrets)
        err = M.api_error(self, op, res, attempt, secrets, spec.unauthorized, spec.why_401)
      elseif spec.check then
        local msg = spec.check(res)
        if msg then
          secrets = secrets or M.secrets(self, spec.secrets)
          err = errors.new(errors.DecodeError, {
            message = msg .. " in the answer to " .. op, operation = op,
            status_code = status, content_type = redact(res.content_type, secrets),
            body = redact(res.body, secrets),
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
    if attempt < max and retry.retryable(policy, method, err)
       and not (spec.no_retry and res and spec.no_retry[res.status_code]) then
      wait = retry.delay(policy, attempt, res and res.headers)
      if core.now() + wait - started > policy.max_elapsed_time then wait = nil end
    end
    if not wait then return finish(err, attempt, started, spec.soft) end
    if not drv:sleep(wait) then
      return finish(M.cancelled(op, target, attempt), attempt, started, spec.soft)
    end
  end
end

return M
