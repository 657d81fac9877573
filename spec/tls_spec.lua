-- HTTPS against the fake PMS with self-signed certificates made by openssl
-- at test time (none are committed).
local fake = require("spec.support.fake")
local plexauth = require("plexauth")
local core = require("plexauth.core")
local errors = plexauth.errors

local SLACK = tonumber(os.getenv("PLEXAUTH_SPEC_SLACK")) or 1

local function sh(cmd)
  local ok = os.execute(cmd)
  assert(ok == true or ok == 0, "command failed: " .. cmd)
end

-- Writes a self-signed EC certificate and key for the given subjectAltName.
local function make_cert(dir, name, cn, san)
  local cert, key = dir .. "/" .. name .. ".crt", dir .. "/" .. name .. ".key"
  sh(string.format("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    .. " -keyout %s -out %s -days 2 -subj /CN=%s -addext subjectAltName=%s 2>/dev/null",
    key, cert, cn, san))
  return cert, key
end

describe("TLS", function()
  local dir, good, other, good_cert, other_cert

  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    sh("mkdir -m 700 " .. dir)
    local key
    good_cert, key = make_cert(dir, "localhost", "localhost", "DNS:localhost,IP:127.0.0.1")
    good = fake.start{ tls_cert = good_cert, tls_key = key }
    other_cert, key = make_cert(dir, "other", "other.invalid", "DNS:other.invalid")
    other = fake.start{ tls_cert = other_cert, tls_key = key }
  end)

  teardown(function()
    fake.stop_all()
    if dir then sh("rm -rf " .. dir) end
  end)

  local function client(srv, opts)
    local o = { server_url = srv.url, token = srv.token, timeout = 10, retries = false }
    for k, v in pairs(opts or {}) do o[k] = v end
    return plexauth.new(o)
  end

  local function tls_failure(srv, opts)
    local c = client(srv, opts)
    local t0 = core.now()
    local ok, err = pcall(c.get_transient_token, c)
    c:close()
    assert.is_false(ok)
    assert.is_true(core.now() - t0 < 10 + SLACK)
    assert.is_true(errors.is(err, errors.TransportError), tostring(err))
    assert.equal("tls", err.reason)
    return err
  end

  it("serves HTTPS on an https URL", function()
    assert.matches("^https://127%.0%.0%.1:%d+$", good.url)
  end)

  it("rejects a self-signed certificate by default", function()
    local err = tls_failure(good)
    assert.equal(60, err.curl_code)
  end)

  it("accepts it with ca_file", function()
    local c = client(good, { ca_file = good_cert })
    assert.matches("^transient%-", c:get_transient_token().token)
    c:close()
  end)

  it("accepts it by host name with ca_file and resolve", function()
    local c = client(good, {
      server_url = "https://localhost:" .. good.port, ca_file = good_cert,
      resolve = { "localhost:" .. good.port .. ":127.0.0.1" },
    })
    assert.matches("^transient%-", c:get_transient_token().token)
    c:close()
  end)

  it("accepts it with verify_tls = false", function()
    local c = client(good, { verify_tls = false })
    assert.matches("^transient%-", c:get_transient_token().token)
    c:close()
  end)

  it("rejects a trusted certificate for another host name", function()
    local err = tls_failure(other, { ca_file = other_cert })
    assert.equal(60, err.curl_code)
  end)

  it("rejects a certificate signed by another CA", function()
    tls_failure(other, { ca_file = good_cert })
  end)

  it("reports an HTTPS client against a plain HTTP server as tls", function()
    local plain = fake.start()
    local ok, err = pcall(function()
      local c = client(plain, { server_url = "https://127.0.0.1:" .. plain.port })
      return c:get_transient_token()
    end)
    plain:stop()
    assert.is_false(ok)
    assert.is_true(errors.is(err, errors.TransportError), tostring(err))
    assert.equal("tls", err.reason)
  end)

  it("reports a plain HTTP client against an HTTPS server as a transport error", function()
    local c = client(good, { server_url = "http://127.0.0.1:" .. good.port })
    local ok, err = pcall(c.get_transient_token, c)
    c:close()
    assert.is_false(ok)
    assert.is_true(errors.is(err, errors.TransportError), tostring(err))
    assert.equal("protocol", err.reason)
  end)
end)
