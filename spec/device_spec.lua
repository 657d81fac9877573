-- Response.device normalization (from scripted /security/resources bodies)
-- and plexauth.preferred_connections.
local plexauth = require("plexauth")
local errors = plexauth.errors
local fake = require("spec.support.fake")
local util = require("spec.support.util")

local is_integer = util.is_integer

describe("Response.device", function()
  local srv, c

  setup(function()
    srv = fake.start{ machine_id = "machine-xyz" }
    c = plexauth.new{ server_url = srv.url, token = srv.token, retries = false }
  end)
  teardown(function()
    c:close()
    fake.stop_all()
  end)
  before_each(function() srv:reset() end)

  local function device_for(mc_json)
    srv:script{ { device_json = mc_json } }
    return c:get_source_connection_information("server://abc").device
  end

  it("is built from the server's MediaContainer.Device", function()
    local d = c:get_source_connection_information("server://abc").device
    assert.equal("Fake PMS", d.name)
    assert.equal("machine-xyz", d.client_identifier)
    assert.equal("device-access-token", d.access_token)
    assert.equal(3, #d.connections)
    assert.same({ protocol = "https", address = "127.0.0.1", port = 32400, ["local"] = true, relay = false,
                  uri = "https://127-0-0-1.0123456789abcdef0123456789abcdef.plex.direct:32400" },
                d.connections[1])
    assert.same({ protocol = "https", address = "127.0.0.2", port = 32400, ["local"] = false, relay = false,
                  uri = "https://127-0-0-2.0123456789abcdef0123456789abcdef.plex.direct:32400" },
                d.connections[2])
    assert.same({ protocol = "https", address = "127.0.0.3", port = 8443, ["local"] = false, relay = true,
                  uri = "https://127-0-0-3.0123456789abcdef0123456789abcdef.plex.direct:8443" },
                d.connections[3])
    for _, conn in ipairs(d.connections) do assert.is_true(is_integer(conn.port)) end
  end)

  local conn = '{"protocol":"http","address":"10.1.2.3","port":32400,"uri":"http://10.1.2.3:32400","local":true}'
  local expected = { protocol = "http", address = "10.1.2.3", port = 32400, uri = "http://10.1.2.3:32400",
                     ["local"] = true, relay = false }

  it("accepts Device as an object and Connection as an object", function()
    local d = device_for('{"size":1,"Device":{"name":"N","clientIdentifier":"cid","accessToken":"at",'
                         .. '"Connection":' .. conn .. '}}')
    assert.same({ name = "N", client_identifier = "cid", access_token = "at", connections = { expected } }, d)
  end)

  it("accepts Device as a one-element array and Connection as an array", function()
    local d = device_for('{"size":1,"Device":[{"name":"N","clientIdentifier":"cid","accessToken":"at",'
                         .. '"Connection":[' .. conn .. ',' .. conn .. ']}]}')
    assert.same({ name = "N", client_identifier = "cid", access_token = "at",
                  connections = { expected, expected } }, d)
  end)

  it("gives an empty connection list when Connection is absent or empty", function()
    assert.same({}, device_for('{"Device":{"name":"N","clientIdentifier":"cid","accessToken":"at"}}').connections)
    assert.same({}, device_for('{"Device":[{"name":"N","accessToken":"at","Connection":[]}]}').connections)
  end)

  local flags = {
    { "true", true }, { "false", false }, { "1", true }, { "0", false },
    { '"1"', true }, { '"0"', false },
  }
  for _, f in ipairs(flags) do
    it("reads local and relay given as " .. f[1], function()
      local d = device_for('{"Device":{"Connection":[{"uri":"http://a:1","local":' .. f[1]
                           .. '},{"uri":"http://b:1","relay":' .. f[1] .. '}]}}')
      assert.equal(f[2], d.connections[1]["local"])
      assert.is_false(d.connections[1].relay)
      assert.is_false(d.connections[2]["local"])
      assert.equal(f[2], d.connections[2].relay)
    end)
  end

  it("reads absent local and relay as false", function()
    local d = device_for('{"Device":{"Connection":{"uri":"http://a:1"}}}')
    assert.is_false(d.connections[1]["local"])
    assert.is_false(d.connections[1].relay)
  end)

  it("reads port as a number or a numeric string, always an integer", function()
    local d = device_for('{"Device":{"Connection":[{"uri":"http://a:1","port":"32400"},'
                         .. '{"uri":"http://b:1","port":8443},{"uri":"http://c:1","port":443.0}]}}')
    assert.equal(32400, d.connections[1].port)
    assert.equal(8443, d.connections[2].port)
    assert.equal(443, d.connections[3].port)
    for _, cn in ipairs(d.connections) do assert.is_true(is_integer(cn.port)) end
  end)

  it("raises DecodeError when MediaContainer is missing", function()
    srv:script{ { status = 200, body = '{"Device":[]}', content_type = "application/json" } }
    local ok, err = pcall(c.get_source_connection_information, c, "server://abc")
    assert.is_false(ok)
    assert.is_true(errors.is(err, errors.DecodeError), tostring(err))
  end)
end)

describe("plexauth.preferred_connections", function()
  local function cn(id, protocol, is_local, relay)
    return { uri = id, protocol = protocol, ["local"] = is_local, relay = relay, address = "a", port = 1 }
  end
  local function uris(list)
    local t = {}
    for i, v in ipairs(list) do t[i] = v.uri end
    return t
  end

  local device = {
    name = "N", access_token = "at",
    connections = {
      cn("relay-http", "http", false, true),
      cn("remote-http-1", "http", false, false),
      cn("local-http-1", "http", true, false),
      cn("remote-https-1", "https", false, false),
      cn("local-https-1", "https", true, false),
      cn("relay-https", "https", false, true),
      cn("local-http-2", "http", true, false),
      cn("remote-https-2", "https", false, false),
      cn("local-https-2", "https", true, false),
      cn("remote-http-2", "http", false, false),
    },
  }

  it("orders local, remote, relay; https before http; otherwise the server's order", function()
    assert.same({ "local-https-1", "local-https-2", "local-http-1", "local-http-2",
                  "remote-https-1", "remote-https-2", "remote-http-1", "remote-http-2",
                  "relay-https", "relay-http" }, uris(plexauth.preferred_connections(device)))
  end)

  it("is stable for many connections of equal rank", function()
    local d = { connections = {} }
    for i = 1, 40 do d.connections[i] = cn("c" .. i, i % 2 == 0 and "https" or "http", false, false) end
    local want = {}
    for i = 2, 40, 2 do want[#want + 1] = "c" .. i end
    for i = 1, 39, 2 do want[#want + 1] = "c" .. i end
    assert.same(want, uris(plexauth.preferred_connections(d)))
  end)

  it("a relay that is also local counts as a relay", function()
    local d = { connections = { cn("relay-local", "https", true, true), cn("remote", "http", false, false) } }
    assert.same({ "remote", "relay-local" }, uris(plexauth.preferred_connections(d)))
  end)

  it("drops relays when allow_relay == false, keeps them otherwise", function()
    assert.same({ "local-https-1", "local-https-2", "local-http-1", "local-http-2",
                  "remote-https-1", "remote-https-2", "remote-http-1", "remote-http-2" },
                uris(plexauth.preferred_connections(device, { allow_relay = false })))
    assert.equal(10, #plexauth.preferred_connections(device, { allow_relay = true }))
    assert.equal(10, #plexauth.preferred_connections(device, {}))
  end)

  it("returns a new list, the same connection tables, and leaves the device unchanged", function()
    local before = {}
    for i, v in ipairs(device.connections) do before[i] = v end
    local list = plexauth.preferred_connections(device)
    assert.are_not.equal(device.connections, list)
    for i, v in ipairs(device.connections) do assert.equal(before[i], v) end
    assert.equal(#before, #device.connections)
    list[1] = nil
    assert.equal(10, #device.connections)
  end)

  it("gives an empty list for a device without connections", function()
    assert.same({}, plexauth.preferred_connections({ connections = {} }))
  end)

  it("orders a device from the server", function()
    local srv = fake.start()
    local c = plexauth.new{ server_url = srv.url, token = srv.token }
    srv:script{ { device_json = { Device = { Connection = {
      { uri = "http://relay:1", protocol = "http", relay = 1 },
      { uri = "http://remote:1", protocol = "http", ["local"] = "0" },
      { uri = "https://local:1", protocol = "https", ["local"] = "1" },
      { uri = "http://local:1", protocol = "http", ["local"] = true },
    } } } } }
    local d = c:get_source_connection_information("server://abc").device
    c:close()
    srv:stop()
    assert.same({ "https://local:1", "http://local:1", "http://remote:1", "http://relay:1" },
                uris(plexauth.preferred_connections(d)))
    assert.same({ "https://local:1", "http://local:1", "http://remote:1" },
                uris(plexauth.preferred_connections(d, { allow_relay = false })))
  end)
end)
