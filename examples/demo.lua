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
if server then server:stop() end
os.exit(ok and 0 or 1)
