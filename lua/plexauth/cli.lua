--- The `plexauth` command (bin/plexauth): transient tokens and source
-- connections of a Plex Media Server; plex.tv login, account and servers.
-- See plexauth(1). Modules load on first use, so a command starts no more
-- than it needs.
-- @module plexauth.cli
local M = {}

local USAGE = [[
usage: plexauth [options] token
       plexauth [options] source SOURCE
       plexauth [options] connect SOURCE
       plexauth [options] login [--strong] [--print]
       plexauth [options] whoami
       plexauth [options] servers
       plexauth [options] logout

Plex Media Server:
  token           print a transient token
  source SOURCE   print the source's access token, then URI<TAB>local|remote|relay
                  for each of its connections
  connect SOURCE  probe the source's connections; print the chosen URI, then the
                  source's access token
plex.tv:
  login           link this machine to a Plex account with a PIN: go to the URL
                  it shows and enter the code; the token goes to the token store
    --strong      a long code in the URL to open, instead of a short one to type
    --print       print the token on stdout instead of storing it
  whoami          print the account's username, then its email
  servers         for each server: NAME<TAB>CLIENT_IDENTIFIER<TAB>owned|shared, then
                  <TAB>URI<TAB>local|remote|relay for each of its connections
  logout          remove the stored token

options:
  --server URL             server (default $PLEX_URL, then http://127.0.0.1:32400)
  --plextv URL             plex.tv (default $PLEXTV_URL, then https://plex.tv)
  --client-identifier ID   X-Plex-Client-Identifier (default $PLEX_CLIENT_IDENTIFIER,
                           then one kept beside the token store)
  --token-file F           read the token from F, - for stdin (default $PLEX_TOKEN,
                           then the token store)
  --ca-file F              trust the CAs in PEM file F
  --insecure               do not verify TLS certificates
  --timeout S              seconds per attempt
  --wait S                 login: give up after S seconds (default: when the PIN expires)
  --json                   print the decoded answer as JSON
  -h, --help               show this help
  --version                print the version

The token never goes on the command line (other users can read it there):
use PLEX_TOKEN, --token-file, or `plexauth login`. The token store is
$PLEXAUTH_TOKEN_FILE, else $XDG_CONFIG_HOME/plexauth/token, else
~/.config/plexauth/token (mode 0600).

examples:
  plexauth login                          # once: link to your Plex account
  plexauth servers                        # your servers and their connections
  PLEX_URL=http://192.168.1.10:32400 plexauth token
  plexauth --server https://10-0-0-5.abc.plex.direct:32400 source server://abc
  printf '%s\n' "$TOKEN" | plexauth --token-file - whoami

exit status: 0 success, 2 usage, 3 unauthorized, 4 other API error,
5 transport error, 6 decode error, 7 PIN expired or login timed out
]]

local EXIT = { argument = 2, unauthorized = 3, two_factor_required = 3, api = 4, transport = 5,
               decode = 6, pin_expired = 7 }

-- Raised by usage_error once it has said why; M.status turns it into 2.
local USAGE_ERROR = setmetatable({}, { __tostring = function() return "usage error" end })

local function usage_error(msg)
  io.stderr:write("plexauth: ", msg, "\n", "try 'plexauth --help'\n")
  error(USAGE_ERROR, 0)
end

local TAKES_VALUE = {
  ["--server"] = "server", ["--client-identifier"] = "client_identifier",
  ["--token-file"] = "token_file", ["--ca-file"] = "ca_file", ["--timeout"] = "timeout",
  ["--plextv"] = "plextv", ["--wait"] = "wait",
}
local FLAGS = { ["--insecure"] = "insecure", ["--json"] = "json", ["--help"] = "help", ["-h"] = "help",
                ["--version"] = "version", ["--strong"] = "strong", ["--print"] = "print" }
local REFUSED = {
  ["--token"] = "--token is not taken: a token on the command line is visible to other users"
    .. " (ps, shell history); use PLEX_TOKEN, --token-file F (- for stdin) or `plexauth login`",
}

local function parse(argv)
  local o, words = {}, {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local name, value = string.match(a, "^(%-%-[%w-]+)=(.*)$")
    name = name or a
    if REFUSED[name] then
      usage_error(REFUSED[name])
    elseif TAKES_VALUE[name] then
      if not value then
        i = i + 1
        value = argv[i]
        if value == nil then usage_error(name .. " needs a value") end
      end
      o[TAKES_VALUE[name]] = value
    elseif FLAGS[name] and not value then
      o[FLAGS[name]] = true
    elseif string.sub(a, 1, 1) == "-" and a ~= "-" then
      usage_error("unknown option " .. a)
    else
      words[#words + 1] = a
    end
    i = i + 1
  end
  return o, words
end

local function env(name)
  local v = os.getenv(name)
  if v ~= nil and v ~= "" then return v end
end

-- Token store ---------------------------------------------------------------

local store = {}

function store.path()
  local f = env("PLEXAUTH_TOKEN_FILE")
  if f then return f end
  local base = env("XDG_CONFIG_HOME") or ((env("HOME") or "") .. "/.config")
  return base .. "/plexauth/token"
end

local function dirname(p)
  return string.match(p, "^(.*)/[^/]*$") or "."
end

local function core()
  return require("plexauth.core")
end

-- Refuses (exit 2) a store file that group or others can read, or that is
-- not this user's, as OpenSSH refuses loose keys.
function store.check(path, st)
  if st.kind ~= "file" then usage_error(path .. " is not a regular file") end
  if st.mode % 64 ~= 0 then -- any of 077
    usage_error(string.format("%s is readable by others (mode %04o): refused; chmod 600 it, or"
      .. " `plexauth logout` and log in again", path, st.mode))
  end
  if st.uid ~= core().getuid() then usage_error(path .. " belongs to another user: refused") end
end

function store.read(path)
  local st = core().stat(path)
  if not st then return nil end
  store.check(path, st)
  local f, err = io.open(path, "rb")
  if not f then usage_error("cannot read the token store: " .. tostring(err)) end
  local t = (f:read("*a") or ""):gsub("%s+$", "")
  f:close()
  return t ~= "" and t or nil
end

-- Makes the store's directory (and missing parents) with mode 0700.
function store.mkdirs(dir)
  local c = core()
  if c.stat(dir) then return end
  store.mkdirs(dirname(dir))
  local ok, err, code = c.mkdir(dir, tonumber("700", 8))
  if not ok and code ~= 17 then usage_error("cannot make " .. dir .. ": " .. tostring(err)) end
end

function store.write(path, data)
  local c = core()
  store.mkdirs(dirname(path))
  local st = c.stat(path)
  if st and st.kind ~= "file" then usage_error(path .. " is not a regular file") end
  local ok, err = c.write_private(path, data)
  if not ok then usage_error("cannot write the token store: " .. tostring(err)) end
end

-- The client identifier kept beside the token store; made when `create`.
function store.client_identifier(create)
  local path = dirname(store.path()) .. "/client-identifier"
  local id = store.read(path)
  if id or not create then return id end
  local f = assert(io.open("/dev/urandom", "rb"))
  local bytes = f:read(16)
  f:close()
  id = "plexauth-" .. (bytes:gsub(".", function(ch) return string.format("%02x", ch:byte()) end))
  store.write(path, id .. "\n")
  return id
end

-- Options -----------------------------------------------------------------

local function read_token(o, optional)
  if o.token_file then
    local f, err
    if o.token_file == "-" then f = io.stdin else f, err = io.open(o.token_file, "rb") end
    if not f then usage_error("cannot read token file: " .. tostring(err)) end
    local t = f:read("*a") or ""
    if f ~= io.stdin then f:close() end
    t = string.gsub(t, "\r?\n$", "")
    if t == "" then usage_error("the token file is empty") end
    return t
  end
  local t = env("PLEX_TOKEN") or store.read(store.path())
  if not t and not optional then
    usage_error("no token: set PLEX_TOKEN, use --token-file F, or run `plexauth login`"
      .. " (never on the command line)")
  end
  return t
end

local function number_option(o, k)
  if o[k] == nil then return nil end
  local v = tonumber(o[k])
  if not v or v <= 0 then usage_error("--" .. k .. " must be a number > 0") end
  return v
end

local function kind_of(conn)
  if conn.relay then return "relay" end
  return conn["local"] and "local" or "remote"
end

local function json(v)
  io.stdout:write(require("cjson").encode(v), "\n")
end

-- Commands ----------------------------------------------------------------

local WANT = { token = 1, source = 2, connect = 2, login = 1, whoami = 1, servers = 1, logout = 1 }
local ACCOUNT = { login = true, whoami = true, servers = true }

local function server_client(o, command, source, timeout)
  local plexauth = require("plexauth")
  local client = plexauth.new{
    server_url = o.server or env("PLEX_URL") or "http://127.0.0.1:32400",
    token = read_token(o),
    client_identifier = o.client_identifier or env("PLEX_CLIENT_IDENTIFIER") or store.client_identifier(false),
    ca_file = o.ca_file,
    verify_tls = not o.insecure,
    timeout = timeout,
  }
  if command == "token" then
    local res = client:get_transient_token()
    if o.json then json(res.object) else io.stdout:write(res.token, "\n") end
  elseif command == "source" then
    local res = client:get_source_connection_information(source)
    if o.json then
      json(res.object)
    else
      local d = res.device
      io.stdout:write(d.access_token or "", "\n")
      for _, c in ipairs(d.connections) do
        io.stdout:write(tostring(c.uri), "\t", kind_of(c), "\n")
      end
    end
  else
    local res = client:get_source_connection_information(source)
    local _, conn = client:connect_device(res.device, { timeout = timeout })
    if o.json then
      json({ uri = conn.uri, access_token = res.device.access_token })
    else
      io.stdout:write(conn.uri, "\n", res.device.access_token or "", "\n")
    end
  end
  client:close()
end

local function minutes(s)
  s = math.max(0, math.floor(s + 0.5))
  return string.format("%d:%02d", math.floor(s / 60), s % 60)
end

local function login(account, o)
  local err = io.stderr
  local pin = account:create_pin{ strong = o.strong == true }
  if pin.strong then
    err:write("To link plexauth to your Plex account, open this URL and sign in:\n  ",
              pin.auth_url, "\n")
  else
    err:write("To link plexauth to your Plex account, go to ", pin.auth_url,
              " and enter the code\n  ", pin.code, "\n")
  end
  err:write("The code is valid for ", minutes(pin.expires_at - os.time()), " (min:s).\n")
  local tty = require("plexauth.core").isatty(2)
  local token = account:wait_for_pin(pin, {
    timeout = number_option(o, "wait"),
    on_wait = tty and function(_, left)
      err:write("\rWaiting for the code to be entered... ", minutes(left), " left ")
      err:flush()
    end or nil,
  })
  if tty then err:write("\n") end
  if o.print then
    io.stdout:write(token, "\n")
    err:write("Linked.\n")
  else
    local path = store.path()
    store.write(path, token .. "\n")
    err:write("Linked. The token is stored in ", path, "\n")
  end
end

local function account_command(o, command, timeout)
  local account = require("plexauth").account{
    client_identifier = o.client_identifier or env("PLEX_CLIENT_IDENTIFIER") or store.client_identifier(true),
    plextv_url = o.plextv or env("PLEXTV_URL"),
    token = command ~= "login" and read_token(o) or nil,
    ca_file = o.ca_file,
    verify_tls = not o.insecure,
    timeout = timeout,
  }
  if command == "login" then
    login(account, o)
  elseif command == "whoami" then
    local u = account:user()
    if o.json then
      local obj = {}
      for k, v in pairs(u.object) do if k ~= "authToken" then obj[k] = v end end
      json(obj)
    else
      io.stdout:write(u.username or "", "\n", u.email or "", "\n")
    end
  else
    local servers = account:servers()
    if o.json then
      for _, d in ipairs(servers) do d.access_token = nil end
      json(servers)
    else
      for _, d in ipairs(servers) do
        io.stdout:write(d.name or "", "\t", d.client_identifier or "", "\t", d.owned and "owned" or "shared", "\n")
        for _, c in ipairs(d.connections) do
          io.stdout:write("\t", tostring(c.uri), "\t", kind_of(c), "\n")
        end
      end
    end
  end
  account:close()
end

local function main(argv)
  local o, words = parse(argv)
  if o.help then
    io.stdout:write(USAGE)
    return 0
  end
  if o.version then
    io.stdout:write("plexauth ", require("plexauth.version"), "\n")
    return 0
  end
  local command, source = words[1], words[2]
  if not WANT[command] then
    usage_error(command and ("unknown command " .. command) or "no command")
  end
  if #words ~= WANT[command] then
    usage_error(command .. (WANT[command] == 1 and " takes no argument" or " takes one SOURCE"))
  end
  if (o.strong or o.print or o.wait) and command ~= "login" then
    usage_error("--strong, --print and --wait go with login")
  end
  local timeout = number_option(o, "timeout")
  number_option(o, "wait")
  if command == "logout" then
    local path = store.path()
    local ok, err = os.remove(path)
    if ok then
      io.stderr:write("Logged out: removed ", path, "\n")
    elseif core().stat(path) then
      usage_error("cannot remove " .. path .. ": " .. tostring(err))
    else
      io.stderr:write("No stored token (", path, ")\n")
    end
    return 0
  end
  if ACCOUNT[command] then
    account_command(o, command, timeout)
  else
    server_client(o, command, source, timeout)
  end
  return 0
end

--- Runs the command line `argv` and returns its exit status (0 success,
-- 2 usage, 3 unauthorized, 4 other API error, 5 transport, 6 decode, 7 PIN
-- expired or login timed out, 130 interrupted). Errors go to stderr.
-- @tparam table argv the arguments (`arg`)
-- @treturn integer the exit status
---@param argv string[] the arguments (`arg`)
---@return integer status the exit status
function M.status(argv)
  local ok, result = pcall(main, argv)
  if ok then return result end
  if result == USAGE_ERROR then return 2 end
  local errors = require("plexauth.errors")
  if errors.is(result) then
    local code = EXIT[result.kind] or 1
    if result.operation == "waitForPin" and result.reason == "timeout" then code = 7 end
    result.where = nil -- a position inside the CLI means nothing to its user
    io.stderr:write(tostring(result), "\n")
    for _, f in ipairs(result.failures or {}) do -- connect: why each connection failed
      io.stderr:write("  ", tostring(f.uri), ": ", tostring(f.error), "\n")
    end
    if code == 7 then io.stderr:write("plexauth: run `plexauth login` again for a new code\n") end
    return code
  end
  if type(result) == "string" and string.find(result, "interrupted!", 1, true) then
    io.stderr:write("\nplexauth: interrupted\n")
    return 130
  end
  io.stderr:write("plexauth: internal error: ", tostring(result), "\n")
  return 1
end

--- Runs the command line `argv` and exits the process with its status
-- (see `status`).
-- @tparam table argv the arguments (`arg`)
---@param argv string[] the arguments (`arg`)
function M.run(argv)
  os.exit(M.status(argv))
end

return M
