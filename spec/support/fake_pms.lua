#!/usr/bin/env lua5.4
--- A fake Plex Media Server for the plexauth specs.
--
-- Usage:
--   lua5.4 spec/support/fake_pms.lua [--host 127.0.0.1] [--port 0] [--token T]
--     [--machine-id ID] [--tls-cert F --tls-key F] [--parent-pid PID] [--plextv 1]
--
-- Prints `PORT <n>` once bound, then serves HTTP/1.1 (or HTTPS) until killed,
-- until `POST /_control/shutdown`, or until the process `--parent-pid` is gone.
-- One coroutine per connection, driven by a `socket.select` loop.
-- Only loopback addresses may be bound.
--
-- PMS endpoints: GET /identity (no token), GET /security/token?type=delegation&scope=all,
-- GET /security/resources?source=S (the decoded S is echoed as MediaContainer.source and
-- Device[1].source; empty S → 400, S not `scheme://…` or `scheme://unknown…` → 404).
-- The token is accepted only in the X-Plex-Token header; JSON when Accept contains
-- application/json, else XML. 401 → PMS's HTML page; other paths → 404.
--
-- Control (never recorded or scripted): GET /_control/log, POST /_control/reset,
-- POST /_control/script (a JSON array of behaviours, or one object), POST /_control/shutdown.
--
-- Behaviour fields (each behaviour replaces the answer to the next non-control request):
--   delay=S        wait S seconds first (other connections keep being served)
--   close=true     close without answering;   garbage=true  send non-HTTP bytes, close
--   status=N       that status; with no body field: 2xx keeps the normal answer's body,
--                  204/304 have none, others get PMS's HTML error page
--   body=, content_type=, headers={name=value}   explicit body / type / extra headers
--   json=true      JSON error body (for 401: code 1001 "User could not be authenticated")
--   big=N          200 JSON body of exactly N bytes;  nested=N  200 body of N nested arrays
--   chunked=bool   chunked Transfer-Encoding (any response) or Content-Length
--   redirect=URL   302 (or `status`) with Location: URL
--   device_json=S  200 body {"MediaContainer":S} (S a raw JSON string, or a table re-encoded)
--   token_missing=true  200 {"MediaContainer":{"size":0}}
--   drip=true, interval=S   send the head, then the body one byte every S (default 0.2) s
--   truncate=true  announce more bytes than sent (or end chunked without last chunk), close
--   repeat=K       apply this behaviour to the next K requests
local socket = require("socket")
local cjson = require("cjson")

local gettime = socket.gettime

-- Options ------------------------------------------------------------------

local opts = { host = "127.0.0.1", port = 0, token = "test-admin-token",
               machine_id = "fake-pms-machine-id" }
do
  local i = 1
  while i <= #arg do
    local name = arg[i]:match("^%-%-([%w-]+)$")
    if not name or arg[i + 1] == nil then
      io.stderr:write("fake_pms: bad argument ", tostring(arg[i]), "\n")
      os.exit(2)
    end
    opts[name:gsub("-", "_")] = arg[i + 1]
    i = i + 2
  end
end
if not (opts.host:match("^127%.%d+%.%d+%.%d+$") or opts.host == "::1"
        or opts.host == "localhost") then
  io.stderr:write("fake_pms: refusing to bind non-loopback host ", opts.host, "\n")
  os.exit(2)
end

-- Scheduler ----------------------------------------------------------------
-- A thread yields ("read", sock), ("write", sock) or ("sleep", deadline).

local waiting = {}      -- coroutine -> { kind, arg }
local running = true

local function resume(co, ...)
  local ok, kind, arg = coroutine.resume(co, ...)
  if not ok then
    io.stderr:write("fake_pms: thread error: ", tostring(kind), "\n")
  end
  if ok and coroutine.status(co) == "suspended" then
    waiting[co] = { kind = kind, arg = arg }
  else
    waiting[co] = nil
  end
end

local function spawn(fn, ...)
  resume(coroutine.create(fn), ...)
end

local function sleep(seconds)
  if seconds and seconds > 0 then
    coroutine.yield("sleep", gettime() + seconds)
  end
end

-- Connection I/O -------------------------------------------------------------

local Conn = {}
Conn.__index = Conn

local function wait_for(sock, err)
  coroutine.yield(err == "wantwrite" and "write" or "read", sock)
end

--- Reads more bytes into the buffer; false when the peer closed.
function Conn:fill()
  while true do
    local data, err, partial = self.sock:receive(8192)
    data = data or partial
    if data and #data > 0 then
      self.buf = self.buf .. data
      return true
    end
    if err ~= "timeout" and err ~= "wantread" and err ~= "wantwrite" then
      return false
    end
    wait_for(self.sock, err)
  end
end

--- Returns the next CRLF- (or LF-) terminated line without its end, or nil.
function Conn:line(limit)
  while true do
    local i = self.buf:find("\n", 1, true)
    if i then
      local line = self.buf:sub(1, i - 1):gsub("\r$", "")
      self.buf = self.buf:sub(i + 1)
      return line
    end
    if #self.buf > limit or not self:fill() then return nil end
  end
end

--- Returns exactly n bytes, or nil when the peer closed first.
function Conn:bytes(n)
  while #self.buf < n do
    if not self:fill() then return nil end
  end
  local data = self.buf:sub(1, n)
  self.buf = self.buf:sub(n + 1)
  return data
end

--- Sends all of data; raises "closed" (caught by the connection thread) on error.
function Conn:send(data)
  local i = 1
  while i <= #data do
    local last, err, partial = self.sock:send(data, i)
    if last then
      i = last + 1
    else
      if err ~= "timeout" and err ~= "wantread" and err ~= "wantwrite" then
        error({ closed = true })
      end
      i = (partial or i - 1) + 1
      wait_for(self.sock, err)
    end
  end
end

-- HTTP helpers -------------------------------------------------------------

local REASONS = {
  [200] = "OK", [201] = "Created", [204] = "No Content", [301] = "Moved Permanently",
  [302] = "Found", [303] = "See Other", [304] = "Not Modified", [307] = "Temporary Redirect",
  [308] = "Permanent Redirect", [400] = "Bad Request", [401] = "Unauthorized",
  [403] = "Forbidden", [404] = "Not Found", [405] = "Method Not Allowed",
  [413] = "Payload Too Large", [429] = "Too Many Requests", [431] = "Request Header Fields Too Large",
  [500] = "Internal Server Error", [501] = "Not Implemented", [502] = "Bad Gateway",
  [503] = "Service Unavailable", [504] = "Gateway Timeout",
}

local function reason(status) return REASONS[status] or "Status" end

local function html_page(status)
  local title = reason(status)
  return string.format("<html><head><title>%s</title></head><body><h1>%d %s</h1></body></html>",
                       title, status, title)
end

local function unescape(s)
  return (s:gsub("%+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function parse_query(q)
  local t = {}
  for pair in q:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    t[unescape(k)] = unescape(v)
  end
  return t
end

local function xml_escape(s)
  return (s:gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

local function json_array(list)
  return #list == 0 and "[]" or cjson.encode(list)
end

-- A response is { status=, headers={ {name, value}, ... }, body=, chunked= }.
local function response(status, ctype, body, extra)
  local r = { status = status, headers = {}, body = body or "" }
  if ctype then r.headers[#r.headers + 1] = { "Content-Type", ctype } end
  for k, v in pairs(extra or {}) do r.headers[#r.headers + 1] = { k, tostring(v) } end
  return r
end

local function html(status) return response(status, "text/html", html_page(status)) end
local function json(status, value) return response(status, "application/json", cjson.encode(value)) end

local function wants_json(req)
  return (req.headers["accept"] or ""):find("application/json", 1, true) ~= nil
end

-- PMS endpoints ----------------------------------------------------------------

local state = { log = {}, script = {}, conn_seq = 0, token_seq = 0 }

local function authorized(req) return req.headers["x-plex-token"] == opts.token end

local function unauthorized(as_json)
  if as_json then
    return json(401, { errors = { { code = 1001, message = "User could not be authenticated",
                                    status = 401 } } })
  end
  return html(401)
end

local function container(req, mc)
  if wants_json(req) then return json(200, { MediaContainer = mc }) end
  local attrs = {}
  for k, v in pairs(mc) do
    if type(v) ~= "table" then attrs[#attrs + 1] = string.format('%s="%s"', k, xml_escape(tostring(v))) end
  end
  table.sort(attrs)
  return response(200, "text/xml;charset=utf-8",
                  '<?xml version="1.0" encoding="UTF-8"?>\n<MediaContainer ' .. table.concat(attrs, " ") .. "/>\n")
end

local function device_for(source)
  local hash = "0123456789abcdef0123456789abcdef"
  local function conn(protocol, address, port, host, is_local, relay)
    return { protocol = protocol, address = address, port = port,
             uri = string.format("%s://%s.%s.plex.direct:%d", protocol, host, hash, port),
             ["local"] = is_local, relay = relay }
  end
  return {
    name = "Fake PMS", product = "Plex Media Server", clientIdentifier = opts.machine_id,
    accessToken = "device-access-token", source = source,
    -- Loopback addresses only, so probing this device never leaves the
    -- machine (nothing listens on these ports).
    Connection = {
      conn("https", "127.0.0.1", 32400, "127-0-0-1", true, false),
      conn("https", "127.0.0.2", 32400, "127-0-0-2", false, false),
      conn("https", "127.0.0.3", 8443, "127-0-0-3", false, true),
    },
  }
end

local routes = {}

routes["/identity"] = function(req)
  return container(req, { size = 0, claimed = true, machineIdentifier = opts.machine_id,
                          version = "1.40.0" })
end

routes["/security/token"] = function(req, query)
  if not authorized(req) then return unauthorized(false) end
  if query.type ~= "delegation" or query.scope ~= "all" then return html(400) end
  state.token_seq = state.token_seq + 1
  return container(req, { size = 0, token = string.format("transient-%d-%08x", state.token_seq,
                                                          math.random(0, 0x7fffffff)) })
end

routes["/security/resources"] = function(req, query)
  if not authorized(req) then return unauthorized(false) end
  local source = query.source
  if not source or source == "" then return html(400) end
  if not source:match("^%a[%w+.-]*://.") or source:match("^%a[%w+.-]*://unknown") then
    return html(404)
  end
  if not wants_json(req) then
    return container(req, { size = 1, source = source })
  end
  return json(200, { MediaContainer = { size = 1, source = source, Device = { device_for(source) } } })
end

-- plex.tv endpoints (with --plextv 1) -------------------------------------------------
-- POST /api/v2/pins[?strong=true], GET /api/v2/pins/{id}, POST /api/v2/users/signin,
-- GET /api/v2/user, GET /api/v2/resources, GET /api/v2/ping. Accounts: alice /
-- alice-password (token alice-token-1a2b3c4d); bob / bob-password with two-factor
-- code 123456 (token bob-token-9z8y7x6w5v). A PIN is linked to alice after
-- `link_after` polls (default 2; -1 never). POST /_control/plextv takes a JSON
-- object merged into `ptv`: link_after, lifetime (seconds of new PINs),
-- expire_all=true (every PIN expires now), revoke=TOKEN (answers 422 XML),
-- echo=true (error bodies repeat the submitted password and code, JSON-escaped, and
-- the form as sent), echo="xml" (the same in an XML error body), resources=
-- (a JSON value answered by /api/v2/resources), server_uri= and server_token=
-- (the owned server's first connection and access token).

local ptv = { link_after = 2, pins = {}, next_pin = 1000, revoked = {} }
local ACCOUNTS = {
  alice = { password = "alice-password", token = "alice-token-1a2b3c4d", id = 101, email = "alice@example.test" },
  bob = { password = "bob-password", code = "123456", token = "bob-token-9z8y7x6w5v", id = 102,
          email = "bob@example.test" },
}
local LONG_TOKEN = "eyJ" .. string.rep("a", 520) .. ".sig"

local function ptv_error(status, code, message, extra)
  local e = { code = code, message = message, status = status }
  for k, v in pairs(extra or {}) do e[k] = v end
  return json(status, { errors = { e } })
end

local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t)) end

local function pin_object(p)
  return { id = p.id, code = p.code, product = p.product, trusted = false,
           qr = "https://plex.tv/api/v2/pins/qr/" .. p.code,
           clientIdentifier = p.client, location = { code = "US", country = "United States" },
           expiresIn = math.max(0, math.floor(p.expires - gettime())), createdAt = iso(p.created),
           expiresAt = iso(p.expires), authToken = p.token or cjson.null, newRegistration = cjson.null }
end

local function user_object(name)
  local a = ACCOUNTS[name]
  return { id = a.id, uuid = name .. "-uuid", username = name, title = name, email = a.email,
           friendlyName = name:gsub("^%l", string.upper), authToken = a.token,
           twoFactorEnabled = a.code ~= nil, home = false, joinedAt = 1600000000,
           subscription = { active = false, status = "Inactive" } }
end

local function token_user(req)
  local t = req.headers["x-plex-token"]
  if not t then return nil end
  if ptv.revoked[t] then return false end
  for name, a in pairs(ACCOUNTS) do if a.token == t then return name end end
end

local function ptv_conn(protocol, address, port, is_local, relay, uri)
  return { protocol = protocol, address = address, port = port,
           uri = uri or (protocol .. "://" .. address .. ":" .. port),
           ["local"] = is_local, relay = relay, IPv6 = false }
end

local function default_resources()
  local first = ptv.server_uri or "http://127.0.0.1:9"
  local host, port = first:match("^%a+://([^:/]+):(%d+)")
  local function dev(name, id, provides, owned, token, conns)
    return { name = name, product = "Plex Media Server", productVersion = "1.40.0", platform = "Linux",
             platformVersion = "6.1", device = "PC", clientIdentifier = id, createdAt = iso(1600000000),
             lastSeenAt = iso(gettime()), provides = provides, ownerId = owned and cjson.null or 7,
             sourceTitle = owned and cjson.null or "carol", publicAddress = "203.0.113.5", accessToken = token,
             owned = owned, home = false, synced = false, relay = true, presence = true, httpsRequired = false,
             publicAddressMatches = true, dnsRebindingProtection = false, natLoopbackSupported = true,
             connections = conns }
  end
  return {
    dev("Home", "owned-server-id", "server", true, ptv.server_token or "owned-server-token", {
      ptv_conn("http", host or "127.0.0.1", tonumber(port) or 9, true, false, first),
      ptv_conn("http", "127.0.0.1", 9, false, false),
      ptv_conn("https", "203.0.113.5", 32400, false, true, "https://203-0-113-5.relay.invalid:8443") }),
    dev("Carol's", "shared-server-id", "server", false, LONG_TOKEN, {
      ptv_conn("http", "127.0.0.1", 9, true, false) }),
    dev("Phone", "player-id", "client,player", true, cjson.null, {}),
  }
end

local function ptv_answer(req, query)
  if not req.headers["x-plex-client-identifier"] then
    return ptv_error(400, 1000, "X-Plex-Client-Identifier is missing")
  end
  if not wants_json(req) then
    return response(200, "text/xml;charset=utf-8", '<?xml version="1.0" encoding="UTF-8"?>\n<ok/>\n')
  end
  local path, m = req.path, req.method
  if path == "/api/v2/pins" and m == "POST" then
    local strong = query.strong == "true"
    ptv.next_pin = ptv.next_pin + 1
    local code = strong and ("s" .. string.format("%024d", ptv.next_pin))
                 or string.format("P%03d", ptv.next_pin % 1000)
    local life = tonumber(ptv.lifetime) or (strong and 1800 or 900)
    local p = { id = ptv.next_pin, code = code, strong = strong, product = req.headers["x-plex-product"],
                client = req.headers["x-plex-client-identifier"], created = gettime(),
                expires = gettime() + life, polls = 0 }
    ptv.pins[p.id] = p
    return json(201, pin_object(p))
  end
  local id = tonumber(path:match("^/api/v2/pins/(%d+)$"))
  if id and m == "GET" then
    local p = ptv.pins[id]
    if not p or gettime() >= p.expires then return ptv_error(404, 1020, "Code not found or expired") end
    p.polls = p.polls + 1
    local after = tonumber(ptv.link_after) or 2
    if after >= 0 and p.polls >= after then p.token = ACCOUNTS.alice.token end
    return json(200, pin_object(p))
  end
  if path == "/api/v2/users/signin" and m == "POST" then
    local f = parse_query(req.body or "")
    local a = ACCOUNTS[f.login or ""]
    local echo = ptv.echo and { login = f.login, password = f.password, verificationCode = f.verificationCode,
                                form = req.body } or nil
    local function refuse(code, message)
      if ptv.echo ~= "xml" then return ptv_error(401, code, message, echo) end
      local attrs = {}
      for _, k in ipairs({ "login", "password", "verificationCode", "form" }) do
        if echo[k] then attrs[#attrs + 1] = string.format('%s="%s"', k, xml_escape(echo[k])) end
      end
      return response(401, "application/xml", string.format('<errors><error code="%d" message="%s" %s/></errors>',
                                                            code, message, table.concat(attrs, " ")))
    end
    if not a or a.password ~= f.password then return refuse(1001, "User could not be authenticated") end
    if a.code and f.verificationCode ~= a.code then
      return refuse(1029, "Please enter the verification code")
    end
    return json(201, user_object(f.login))
  end
  local who = token_user(req)
  if path == "/api/v2/user" or path == "/api/v2/resources" or path == "/api/v2/ping" then
    if who == false then
      return response(422, "application/xml", "<errors><error>Invalid token</error></errors>")
    elseif not who then
      return ptv_error(401, 1001, "User could not be authenticated")
    end
    if path == "/api/v2/user" then return json(200, user_object(who)) end
    if path == "/api/v2/ping" then return json(200, { pong = true }) end
    if ptv.resources ~= nil then return response(200, "application/json", cjson.encode(ptv.resources)) end
    return response(200, "application/json", cjson.encode(default_resources()))
  end
  return ptv_error(404, 1002, "Not found")
end

local function normal_answer(req, query)
  if opts.plextv and req.path:sub(1, 8) == "/api/v2/" then return ptv_answer(req, query) end
  local route = routes[req.path]
  if not route then return html(404) end
  if req.method ~= "GET" and req.method ~= "HEAD" then return html(405) end
  return route(req, query)
end

-- Scripted behaviours --------------------------------------------------------------

local function next_behaviour()
  local b = state.script[1]
  if not b then return nil end
  b._left = (b._left or tonumber(b["repeat"]) or 1) - 1
  if b._left <= 0 then table.remove(state.script, 1) end
  return b
end

local function big_body(n)
  if n < 10 then return string.rep(" ", n) end
  return '{"pad":"' .. string.rep("x", n - 10) .. '"}'
end

--- Builds the response for behaviour b (nil means "no response, just close").
local function scripted(b, req, query)
  local r
  local status = tonumber(b.status)
  if b.big then
    r = response(200, "application/json", big_body(math.tointeger(tonumber(b.big)) or 0))
  elseif b.nested then
    local n = math.tointeger(tonumber(b.nested)) or 0
    r = response(200, "application/json", string.rep("[", n) .. string.rep("]", n))
  elseif b.device_json then
    local raw = type(b.device_json) == "string" and b.device_json or cjson.encode(b.device_json)
    r = response(200, "application/json", '{"MediaContainer":' .. raw .. "}")
  elseif b.token_missing then
    r = json(200, { MediaContainer = { size = 0 } })
  elseif b.redirect then
    r = response(302, "text/html", html_page(status or 302), { Location = b.redirect })
  elseif b.json then
    r = (status or 401) == 401 and unauthorized(true)
        or json(status, { errors = { { code = status, message = reason(status), status = status } } })
  elseif b.body ~= nil then
    r = response(status or 200, b.content_type or "text/plain", tostring(b.body))
  elseif status and (status == 204 or status == 304) then
    r = response(status)
  elseif status and status >= 300 then
    r = html(status)
  else
    r = normal_answer(req, query)
  end
  if status then r.status = status end
  if b.content_type then
    for _, h in ipairs(r.headers) do
      if h[1] == "Content-Type" then h[2] = b.content_type end
    end
  end
  for k, v in pairs(type(b.headers) == "table" and b.headers or {}) do
    r.headers[#r.headers + 1] = { k, tostring(v) }
  end
  if b.chunked ~= nil then r.chunked = b.chunked and true or false end
  return r
end

-- Control endpoints ----------------------------------------------------------------

local function control(req)
  local what = req.path:sub(#"/_control/" + 1)
  if what == "log" and req.method == "GET" then
    return response(200, "application/json", json_array(state.log))
  elseif what == "reset" and req.method == "POST" then
    state.log, state.script = {}, {}
    ptv.link_after, ptv.lifetime, ptv.echo, ptv.resources, ptv.revoked = 2, nil, nil, nil, {}
    ptv.server_uri, ptv.server_token = nil, nil
    return json(200, { ok = true })
  elseif what == "script" and req.method == "POST" then
    local ok, list = pcall(cjson.decode, req.body)
    if not ok or type(list) ~= "table" then return response(400, "text/plain", "body must be JSON\n") end
    if list[1] == nil and next(list) ~= nil then list = { list } end  -- a single object
    for _, b in ipairs(list) do
      if type(b) ~= "table" then return response(400, "text/plain", "behaviours must be objects\n") end
    end
    for _, b in ipairs(list) do state.script[#state.script + 1] = b end
    return json(200, { ok = true, pending = #state.script })
  elseif what == "plextv" and req.method == "POST" then
    local ok, t = pcall(cjson.decode, req.body)
    if not ok or type(t) ~= "table" then return response(400, "text/plain", "body must be a JSON object\n") end
    for k, v in pairs(t) do
      if k == "revoke" then ptv.revoked[v] = true
      elseif k == "expire_all" then for _, p in pairs(ptv.pins) do p.expires = gettime() end
      else ptv[k] = v end
    end
    return json(200, { ok = true })
  elseif what == "shutdown" and req.method == "POST" then
    running = false
    return json(200, { ok = true })
  end
  return html(404)
end

-- Connection handling --------------------------------------------------------------

local MAX_LINE, MAX_HEADERS, MAX_BODY = 16384, 100, 16 * 1024 * 1024
local MAX_FD = 1000  -- socket.select is limited to FD_SETSIZE (1024) descriptors

--- Reads one request; returns req, or nil plus an error status (or nil when closed).
local function read_request(c)
  local line
  repeat line = c:line(MAX_LINE) until line ~= ""   -- tolerate stray CRLFs between requests
  if not line then return nil end
  local method, target, version = line:match("^(%u+) (%S+) HTTP/(%d%.%d)$")
  if not method then return nil, 400 end
  local req = { method = method, version = version, headers = {}, conn_id = c.id, time = gettime() }
  for n = 1, MAX_HEADERS + 1 do
    local h = c:line(MAX_LINE)
    if not h then return nil end
    if h == "" then break end
    if n > MAX_HEADERS then return nil, 431 end
    local name, value = h:match("^([!#$%%&'*+.^_`|~%w-]+):[ \t]*(.-)[ \t]*$")
    if not name then return nil, 400 end
    name = name:lower()
    local old = req.headers[name]
    req.headers[name] = old and (old .. ", " .. value) or value
  end
  target = target:gsub("^%a[%w+.-]*://[^/]*", "")  -- absolute-form
  req.path, req.query = target:match("^([^?#]*)%??([^#]*)")
  if req.path == "" then req.path = "/" end
  if req.headers["transfer-encoding"] then return nil, 501 end
  local len = req.headers["content-length"]
  if len and not len:match("^%d+$") then return nil, 400 end
  len = tonumber(len or 0)
  if len > MAX_BODY then return nil, 413 end
  if len > 0 and (req.headers["expect"] or ""):lower() == "100-continue" then
    c:send("HTTP/1.1 100 Continue\r\n\r\n")
  end
  req.body = c:bytes(len)
  if not req.body then return nil end
  return req
end

local function keep_alive(req)
  local conn = (req.headers["connection"] or ""):lower()
  if req.version == "1.0" then return conn:find("keep%-alive") ~= nil end
  return not conn:find("close")
end

--- Serialises a response head and body (body framing included).
local function encode(r, req, close)
  local body = r.body or ""
  local no_body = req.method == "HEAD" or r.status == 204 or r.status == 304
  local head = { string.format("HTTP/1.1 %d %s", r.status, reason(r.status)),
                 "Date: " .. os.date("!%a, %d %b %Y %H:%M:%S GMT"),
                 "X-Plex-Protocol: 1.0", "Cache-Control: no-cache" }
  for _, h in ipairs(r.headers) do head[#head + 1] = h[1] .. ": " .. h[2] end
  local wire = ""
  if r.chunked then
    head[#head + 1] = "Transfer-Encoding: chunked"
    if not no_body then
      local parts = {}
      for i = 1, #body, 16384 do
        local chunk = body:sub(i, i + 16383)
        parts[#parts + 1] = string.format("%x\r\n%s\r\n", #chunk, chunk)
      end
      parts[#parts + 1] = "0\r\n\r\n"
      wire = table.concat(parts)
    end
  elseif r.status ~= 204 and r.status ~= 304 then
    head[#head + 1] = "Content-Length: " .. #body
    if not no_body then wire = body end
  end
  head[#head + 1] = "Connection: " .. (close and "close" or "keep-alive")
  return table.concat(head, "\r\n") .. "\r\n\r\n", wire
end

--- Answers one request; returns true when the connection stays open.
local function serve(c, req)
  local is_control = req.path:sub(1, 10) == "/_control/"
  local close = not keep_alive(req)
  local b, query = nil, parse_query(req.query)
  if not is_control then
    state.log[#state.log + 1] = req
    b = next_behaviour()
  end
  b = b or {}
  sleep(tonumber(b.delay))
  if b.close then return false end
  if b.garbage then
    c:send("\0\1\2 this is not HTTP \255\254\r\n\r\n")
    return false
  end
  local r = is_control and control(req) or scripted(b, req, query)
  close = close or b.truncate or not running
  local head, wire = encode(r, req, close)
  if b.truncate then
    if r.chunked then
      wire = wire:sub(1, #wire - 5 - math.min(#wire - 5, #r.body // 2))
    else
      head = head:gsub("Content%-Length: %d+", "Content-Length: " .. (#wire + 100), 1)
      wire = wire:sub(1, #wire // 2)
    end
  end
  if b.drip then
    local interval = tonumber(b.interval) or 0.2
    c:send(head)
    for i = 1, #wire do
      sleep(interval)
      c:send(wire:sub(i, i))
    end
  else
    c:send(head .. wire)
  end
  return not close
end

local function handle(sock, tls_ctx)
  state.conn_seq = state.conn_seq + 1
  local c = setmetatable({ sock = sock, buf = "", id = state.conn_seq }, Conn)
  local ok, err = pcall(function()
    sock:settimeout(0)
    if tls_ctx then
      local ssl = require("ssl")
      local wrapped = assert(ssl.wrap(sock, tls_ctx))
      wrapped:settimeout(0)
      c.sock = wrapped
      while true do
        local done, herr = wrapped:dohandshake()
        if done then break end
        if herr ~= "wantread" and herr ~= "wantwrite" and herr ~= "timeout" then return end
        wait_for(wrapped, herr)
      end
    end
    while running do
      local req, status = read_request(c)
      if not req then
        if status then
          local head, wire = encode(html(status), { method = "GET" }, true)
          c:send(head .. wire)
        end
        return
      end
      if not serve(c, req) then return end
    end
  end)
  if not ok and not (type(err) == "table" and err.closed) then
    io.stderr:write("fake_pms: connection ", c.id, ": ", tostring(err), "\n")
  end
  c.sock:close()
end

-- Parent watchdog --------------------------------------------------------------------

local function process_alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if f then
    local stat = f:read("a") or ""
    f:close()
    local st = stat:match("%)%s+(%a)")
    return st ~= "Z" and st ~= "X"
  end
  if io.open("/proc/self/stat", "r") then return false end  -- procfs present: pid is gone
  return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true
end

-- Main loop ----------------------------------------------------------------------------

local function main()
  math.randomseed(os.time(), math.floor(gettime() * 1000) % 100000)
  local tls_ctx
  if opts.tls_cert or opts.tls_key then
    local ssl = require("ssl")
    tls_ctx = assert(ssl.newcontext({ mode = "server", protocol = "any",
                                      certificate = opts.tls_cert, key = opts.tls_key,
                                      options = { "all" } }))
  end
  local server = assert(socket.bind(opts.host, tonumber(opts.port) or 0, 512))
  server:settimeout(0)
  local _, port = server:getsockname()
  io.stdout:write("PORT ", port, "\n")
  io.stdout:flush()

  local parent = tonumber(opts.parent_pid)
  local next_check = gettime() + 1
  while running do
    local now = gettime()
    local recvt, sendt, owner, ready = { server }, {}, {}, {}
    local timeout = math.max(0, next_check - now)
    for co, w in pairs(waiting) do
      if w.kind == "sleep" then
        if w.arg <= now then ready[#ready + 1] = co else timeout = math.min(timeout, w.arg - now) end
      elseif w.kind == "read" and w.arg.dirty and w.arg:dirty() then
        ready[#ready + 1] = co
      else
        local set = w.kind == "read" and recvt or sendt
        set[#set + 1] = w.arg
        owner[w.arg] = co
      end
    end
    if #ready > 0 then timeout = 0 end
    local ok, r, s = pcall(socket.select, recvt, sendt, timeout)
    if not ok then
      io.stderr:write("fake_pms: select: ", tostring(r), "\n")
      r, s = {}, {}
    end
    for _, list in ipairs({ r, s }) do
      for _, sk in ipairs(list) do
        if sk == server then
          for _ = 1, 64 do
            local client = server:accept()
            if not client then break end
            if client:getfd() < MAX_FD then spawn(handle, client, tls_ctx) else client:close() end
          end
        elseif owner[sk] then
          ready[#ready + 1] = owner[sk]
          owner[sk] = nil
        end
      end
    end
    for _, co in ipairs(ready) do
      if waiting[co] then resume(co) end
    end
    if gettime() >= next_check then
      next_check = gettime() + 1
      if parent and not process_alive(parent) then running = false end
    end
  end
  server:close()
  os.exit(0)
end

main()
