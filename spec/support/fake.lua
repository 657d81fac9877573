--- Start, control and stop the fake Plex Media Server (spec/support/fake_pms.lua).
--
--   local fake = require("spec.support.fake")
--   local srv = fake.start{ token = "secret" }
--   srv:script{ { status = 500 } }
--   ... talk to srv.url ...
--   local log = srv:log()
--   srv:stop()        -- or fake.stop_all() in a busted teardown
--
-- Control calls use plain LuaSocket (wrapped by LuaSec for an HTTPS server),
-- never plexauth. The server always runs under `$FAKE_PMS_LUA` (default `lua5.4`);
-- this module itself works on Lua 5.1 to 5.4.
local socket = require("socket")
local cjson = require("cjson")

local M = {}

local function int(v)
  v = tonumber(v)
  return v and math.floor(v)
end

--- The interpreter that runs the server.
M.lua = os.getenv("FAKE_PMS_LUA") or "lua5.4"

--- Path of the server script, next to this module.
M.script_path = (debug.getinfo(1, "S").source:match("^@(.*)fake%.lua$") or "spec/support/") .. "fake_pms.lua"

local live = {}   -- servers started and not yet stopped

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- True when process `pid` exists and is not a zombie.
-- @tparam integer pid
-- @treturn boolean
function M.alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if f then
    local st = (f:read("*a") or ""):match("%)%s+(%a)")
    f:close()
    return st ~= "Z" and st ~= "X"
  end
  if io.open("/proc/self/stat", "r") then return false end
  local ok = os.execute("kill -0 " .. pid .. " 2>/dev/null")
  return ok == true or ok == 0
end

--- Returns a loopback TCP port that nothing listens on (for "connection refused").
-- @tparam[opt="127.0.0.1"] string host
-- @treturn integer
function M.free_port(host)
  local s = assert(socket.bind(host or "127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return int(port)
end

-- Raw HTTP client ---------------------------------------------------------------------

local Conn = {}
Conn.__index = Conn

--- Opens a connection to a server (or to any `{host=, port=, tls=}`).
-- @tparam table target a server from `start`, or `{host=, port=, tls=bool, cafile=, timeout=}`;
--   with `tls`, the certificate is verified only when `cafile` is given
-- @treturn Conn with fields `sock` (LuaSocket/LuaSec object) and methods `send`, `request`,
--   `read_response`, `close`
function M.connect(target)
  local sock = assert(socket.tcp())
  sock:settimeout(target.timeout or 10)
  local ok, err = sock:connect(target.host or "127.0.0.1", target.port)
  if not ok then sock:close(); error("fake.connect: " .. tostring(err), 2) end
  if target.tls then
    local ssl = require("ssl")
    sock = assert(ssl.wrap(sock, { mode = "client", protocol = "any",
                                   verify = target.cafile and "peer" or "none",
                                   cafile = target.cafile, options = { "all" } }))
    if target.sni ~= false then sock:sni(target.sni or "localhost") end
    assert(sock:dohandshake())
  end
  return setmetatable({ sock = sock, host = target.host or "127.0.0.1", port = target.port }, Conn)
end

--- Sends raw bytes.
function Conn:send(data)
  assert(self.sock:send(data))
end

--- Sends one request (Content-Length framing for `body`; `Host` added unless given).
-- @tparam string method
-- @tparam string target path and query, e.g. `"/identity"`
-- @tparam[opt] table headers name → value
-- @tparam[opt] string body
-- @treturn table response, see `read_response`
function Conn:request(method, target, headers, body)
  local lines, has_host = { method .. " " .. target .. " HTTP/1.1" }, false
  for k, v in pairs(headers or {}) do
    has_host = has_host or k:lower() == "host"
    lines[#lines + 1] = k .. ": " .. v
  end
  if not has_host then lines[#lines + 1] = "Host: " .. self.host .. ":" .. self.port end
  if body then lines[#lines + 1] = "Content-Length: " .. #body end
  self:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or ""))
  return self:read_response(method)
end

--- Reads one response.
-- @tparam[opt] string method of the request (no body for HEAD)
-- @treturn table `{status=, reason=, headers=<lower-case name → value>, body=}`,
--   or nil and an error (`"closed"`, `"timeout"`, `"bad status line: …"`)
function Conn:read_response(method)
  local sock = self.sock
  local line, err = sock:receive("*l")
  if not line then return nil, err end
  local status, why = line:match("^HTTP/%d%.%d (%d%d%d) ?(.*)$")
  if not status then return nil, "bad status line: " .. line end
  local res = { status = tonumber(status), reason = why, headers = {} }
  while true do
    local h, herr = sock:receive("*l")
    if not h then return nil, herr end
    if h == "" then break end
    local k, v = h:match("^([^:]+):%s*(.-)%s*$")
    if k then
      k = k:lower()
      res.headers[k] = res.headers[k] and (res.headers[k] .. ", " .. v) or v
    end
  end
  local parts = {}
  if method == "HEAD" or res.status == 204 or res.status == 304 or res.status < 200 then
    res.body = ""
  elseif (res.headers["transfer-encoding"] or ""):lower():find("chunked") then
    while true do
      local size = sock:receive("*l")
      size = size and tonumber(size:match("^%x+"), 16)
      if not size then return nil, "bad chunk" end
      if size == 0 then sock:receive("*l"); break end
      parts[#parts + 1] = sock:receive(size)
      if not parts[#parts] or not sock:receive("*l") then return nil, "truncated chunk" end
    end
    res.body = table.concat(parts)
  elseif res.headers["content-length"] then
    local body, berr, partial = sock:receive(tonumber(res.headers["content-length"]))
    if not body then return nil, berr, partial end
    res.body = body
  else
    local body, berr, partial = sock:receive("*a")
    res.body = body or partial
    if not res.body then return nil, berr end
  end
  return res
end

--- Closes the connection.
function Conn:close()
  self.sock:close()
end

-- Servers ---------------------------------------------------------------------------------

local Server = {}
Server.__index = Server

--- Starts a fake PMS in the background and waits until it listens.
-- @tparam[opt] table opts `token` (default `"test-admin-token"`), `host` (a loopback
--   address, default `"127.0.0.1"`), `port` (default 0: ephemeral), `machine_id`,
--   `tls_cert` and `tls_key` (PEM files: serve HTTPS), `parent_pid` (the server exits
--   when this process is gone; default: the calling Lua process), `plextv` (also
--   serve plex.tv's /api/v2 endpoints: see fake_pms.lua and `Server:plextv`)
-- @treturn Server with fields `pid`, `host`, `port`, `url`, `token`, `machine_id`, `tls`
function M.start(opts)
  opts = opts or {}
  local host = opts.host or "127.0.0.1"
  local token = opts.token or "test-admin-token"
  local args = { M.lua, shell_quote(M.script_path), "--host", shell_quote(host),
                 "--port", shell_quote(opts.port or 0), "--token", shell_quote(token),
                 "--parent-pid", opts.parent_pid and shell_quote(opts.parent_pid) or "$PPID" }
  if opts.machine_id then
    args[#args + 1] = "--machine-id " .. shell_quote(opts.machine_id)
  end
  if opts.plextv then args[#args + 1] = "--plextv 1" end
  if opts.tls_cert or opts.tls_key then
    args[#args + 1] = "--tls-cert " .. shell_quote(opts.tls_cert)
    args[#args + 1] = "--tls-key " .. shell_quote(opts.tls_key)
  end
  -- The shell's $PPID is this Lua process; the server runs in the background.
  local p = assert(io.popen(table.concat(args, " ") .. " </dev/null & echo PID $!", "r"))
  local pid, port
  for line in p:lines() do
    pid = pid or int(line:match("^PID (%d+)$"))
    port = port or int(line:match("^PORT (%d+)$"))
    if pid and port then break end
  end
  p:close()
  if not port then
    if pid then os.execute("kill -KILL " .. pid .. " 2>/dev/null") end
    error("fake.start: the fake PMS did not start (see stderr)", 2)
  end
  local tls = opts.tls_cert ~= nil
  local url_host = host:find(":", 1, true) and "[" .. host .. "]" or host
  local srv = setmetatable({
    pid = pid, host = host, port = port, token = token, tls = tls,
    machine_id = opts.machine_id or "fake-pms-machine-id",
    url = (tls and "https" or "http") .. "://" .. url_host .. ":" .. port,
  }, Server)
  live[srv] = true
  return srv
end

--- Opens a raw connection to this server (`opts` as in `fake.connect`).
-- @treturn Conn
function Server:connect(opts)
  local t = { host = self.host, port = self.port, tls = self.tls }
  for k, v in pairs(opts or {}) do t[k] = v end
  return M.connect(t)
end

--- One request on a fresh connection, closed afterwards.
-- @treturn table response (see `Conn:read_response`), or nil and an error
function Server:request(method, target, headers, body)
  local c = self:connect()
  local res, err = c:request(method, target, headers, body)
  c:close()
  return res, err
end

local function control(srv, method, what, body)
  local res, err = srv:request(method, "/_control/" .. what, { Connection = "close" }, body)
  if not res or res.status ~= 200 then
    error(string.format("fake: /_control/%s failed: %s", what,
                        res and (res.status .. " " .. res.body) or tostring(err)), 3)
  end
  return res.body
end

--- The recorded (non-control) requests, oldest first.
-- @treturn {table,...} records `{method=, path=, query=<raw>, headers=<lower-case → value>,
--   conn_id=, body=, time=, version=}`
function Server:log()
  return cjson.decode(control(self, "GET", "log"))
end

--- Clears the request log and any pending scripted behaviours.
function Server:reset()
  control(self, "POST", "reset", "")
end

--- Appends scripted behaviours, each consumed by the next non-control request(s).
-- @tparam {table,...} list behaviour tables, e.g. `{ {status=500}, {delay=1} }`
function Server:script(list)
  control(self, "POST", "script", #list == 0 and "[]" or cjson.encode(list))
end

--- Sets the fake plex.tv's state (started with `plextv = true`): `link_after`,
-- `lifetime`, `expire_all`, `revoke`, `echo`, `resources`, `server_uri`,
-- `server_token`
-- (see fake_pms.lua). `reset` restores the defaults.
-- @tparam table t
function Server:plextv(t)
  control(self, "POST", "plextv", cjson.encode(t))
end

--- True while the server process runs.
function Server:running()
  return self.pid ~= nil and M.alive(self.pid)
end

--- Terminates the server (SIGTERM, then SIGKILL after 5 s) and waits until it is gone.
-- Idempotent.
function Server:stop()
  live[self] = nil
  local pid = self.pid
  if not pid then return end
  self.pid = nil
  for _, sig in ipairs({ "TERM", "KILL" }) do
    os.execute("kill -" .. sig .. " " .. pid .. " 2>/dev/null")
    local deadline = socket.gettime() + 5
    while socket.gettime() < deadline do
      if not M.alive(pid) then return end
      socket.sleep(0.01)
    end
  end
end

Server.__gc = Server.stop
Server.__close = Server.stop

--- Stops every server started by this module and not yet stopped.
function M.stop_all()
  for srv in pairs(live) do srv:stop() end
end

return M
