-- make demo: fetch a transient token and source connection information,
-- through the CLI and through the Lua API. Uses PLEX_URL and PLEX_TOKEN
-- when both are set; otherwise starts the bundled fake PMS on loopback.
local plexauth = require("plexauth")

local url, token = os.getenv("PLEX_URL"), os.getenv("PLEX_TOKEN")
local server
if not (url and url ~= "" and token and token ~= "") then
  server = require("spec.support.fake").start{}
  url, token = server.url, server.token
  print("Started the bundled fake PMS at " .. url)
else
  print("Using the server at " .. url)
end

-- The CLI reads the token from a file, never from its command line.
local token_file = os.tmpname()
local f = assert(io.open(token_file, "w"))
f:write(token, "\n")
f:close()

local lua = arg[-1] or "lua5.4"
local function cli(args)
  local cmd = string.format("%s bin/plexauth --server '%s' --token-file '%s' %s",
                            lua, url, token_file, args)
  print("\n$ plexauth " .. args)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end

-- The server's own source id: GET /identity gives its machine identifier.
local client = plexauth.new{ server_url = url, token = token,
                             client_identifier = "plexauth-demo", product = "plexauth demo" }
local id = client:request{ path = "/identity" }.object.MediaContainer.machineIdentifier
local source = "server://" .. id

local ok = cli("token") and cli("source " .. source)
os.remove(token_file)

print("\n-- Lua --")
local res = client:get_transient_token()
print("transient token:", res.token)
local info = client:get_source_connection_information(source)
print("device:", info.device.name, "access token:", info.device.access_token)
for _, c in ipairs(plexauth.preferred_connections(info.device)) do
  print("", c.uri, c.relay and "relay" or (c["local"] and "local" or "remote"))
end
-- connect_device probes every connection at once and keeps the best that
-- answers. The bundled server is told to list two connections: a
-- closed port first, then itself.
if server then
  local dead = require("spec.support.fake").free_port()
  server:script{ { device_json = {
    size = 1,
    Device = { { name = "Demo PMS", clientIdentifier = id, accessToken = server.token,
      Connection = {
        { protocol = "http", address = "127.0.0.1", port = dead, ["local"] = true,
          uri = "http://127.0.0.1:" .. dead },
        { protocol = "http", address = "127.0.0.1", port = server.port, ["local"] = false,
          uri = server.url },
      } } },
  } } }
  info = client:get_source_connection_information(source)
end
local direct, conn = client:connect_device(info.device, { timeout = 2 })
print("connect_device chose:", conn.uri)
print("transient token there:", direct:get_transient_token().token)
direct:close()
local bad = plexauth.new{ server_url = url, token = "not-a-valid-token" }
local okcall, err = pcall(bad.get_transient_token, bad)
if not okcall and plexauth.errors.is(err, plexauth.errors.Unauthorized) then
  print("a wrong token gives:", tostring(err))
end
bad:close()
client:close()

-- The plex.tv journey: log in once with a PIN, then find the server and use
-- it. Only ever against the bundled fake plex.tv (it links the PIN by itself
-- after two polls); the real plex.tv is never contacted.
if server then
  local fake = require("spec.support.fake")
  local tv = fake.start{ plextv = true }
  tv:plextv{ server_uri = server.url, server_token = server.token }
  print("\n-- plex.tv account (the bundled fake plex.tv at " .. tv.url .. ") --")
  local home = os.tmpname()
  os.remove(home)
  local function account_cli(args)
    print("\n$ plexauth " .. args)
    local r = os.execute(string.format("XDG_CONFIG_HOME='%s' PLEXTV_URL='%s' %s bin/plexauth %s",
                                       home, tv.url, lua, args))
    return r == true or r == 0
  end
  ok = ok and account_cli("login") and account_cli("whoami") and account_cli("servers")
    and account_cli("logout")
  os.execute("rm -rf '" .. home .. "'")

  print("\n-- Lua --")
  local account = plexauth.account{ client_identifier = "plexauth-demo", product = "plexauth demo",
                                    plextv_url = tv.url }
  local pin = account:create_pin()
  print("go to " .. pin.auth_url .. " and enter " .. pin.code)
  account:wait_for_pin(pin, { interval = 0.2 })
  print("linked; account:", account:user().username)
  local owned = account:servers()[1]
  print("server:", owned.name, owned.owned and "owned" or "shared")
  local pms, chosen = account:connect_device(owned, { allow_relay = false, timeout = 2 })
  print("connected to:", chosen.uri)
  print("transient token there:", pms:get_transient_token().token)
  pms:close()
  account:close()
  tv:stop()
end
if server then server:stop() end
os.exit(ok and 0 or 1)
