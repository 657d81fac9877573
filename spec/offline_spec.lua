-- `make test` runs every stage in a network namespace with loopback only
-- (tools/offline): no spec, demo or stage can reach or resolve a name off
-- this machine. Outside `make test` (busted by hand) this is pending.
local plexauth = require("plexauth")
local errors = plexauth.errors

describe("make test's network namespace", function()
  if not os.getenv("PLEXAUTH_OFFLINE") then
    pending("busted runs outside tools/offline")
    return
  end

  it("has loopback as its only interface", function()
    local p = assert(io.popen("ip -o link show")) -- this namespace's (sysfs may show the host's)
    local names = {}
    for line in p:lines() do names[#names + 1] = line:match("^%d+:%s*([^:@]+)") end
    p:close()
    assert.same({ "lo" }, names)
  end)

  it("cannot resolve plex.tv nor reach an address off the machine", function()
    local c = plexauth.new{ server_url = "https://plex.tv", retries = false, timeout = 2 }
    local ok, err = pcall(c.get_transient_token, c)
    assert.is_false(ok)
    assert.is_true(errors.is(err, errors.TransportError))
    assert.equal("resolve", err.reason)
    c:close()
    c = plexauth.new{ server_url = "http://192.0.2.1:32400", retries = false, timeout = 2 }
    ok, err = pcall(c.get_transient_token, c)
    assert.is_false(ok)
    assert.equal("connect", err.reason) -- no route: refused at once, not timed out
    c:close()
  end)
end)
