--- Test certificates made with `openssl` at test time (nothing is committed).
--
--   local certs = require("spec.support.certs")
--   local pki = certs.make{ "127-0-0-1.<hash>.plex.direct", "localhost" }
--   -- pki.ca (CA certificate, PEM), pki.cert, pki.key (server), pki.dir
--   pki:cleanup()
--
-- The CA and the server key are EC P-256 (fast to make); the server certificate
-- carries every given name as a DNS subjectAltName and is valid for two days.
local util = require("spec.support.util")

local M = {}

local quote, write = util.q, util.write

local function run(cmd)
  local ok = os.execute(cmd .. " >/dev/null 2>&1")
  if ok ~= true and ok ~= 0 then error("certs: command failed: " .. cmd, 3) end
end

--- A random lower-case hex string of `n` bytes (2n characters), from openssl.
-- @tparam[opt=16] integer n
-- @treturn string
function M.random_hex(n)
  local p = assert(io.popen("openssl rand -hex " .. (n or 16)))
  local s = p:read("*l")
  p:close()
  assert(s and s:match("^%x+$"), "certs: openssl rand failed")
  return s:lower()
end

--- Makes a fresh temporary directory.
-- @treturn string its path
function M.tempdir()
  local p = assert(io.popen("mktemp -d 2>/dev/null"))
  local dir = p:read("*l")
  p:close()
  assert(dir and dir ~= "", "certs: mktemp -d failed")
  return dir
end

local Pki = {}
Pki.__index = Pki

--- Removes the directory and everything in it.
function Pki:cleanup()
  if self.dir then os.execute("rm -rf " .. quote(self.dir)) end
  self.dir = nil
end

--- Makes a test CA and a server certificate signed by it.
-- @tparam {string,...} names DNS names of the server certificate (the first is its CN)
-- @treturn table `{dir=, ca=, ca_key=, cert=, key=, cleanup=}` (paths of PEM files)
function M.make(names)
  assert(type(names) == "table" and names[1], "certs.make: give at least one name")
  local dir = M.tempdir()
  local f = function(name) return dir .. "/" .. name end
  local ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
  run(string.format("openssl req -x509 %s -keyout %s -out %s -days 2 -subj %s"
    .. " -addext basicConstraints=critical,CA:TRUE"
    .. " -addext keyUsage=critical,keyCertSign,cRLSign",
    ec, quote(f("ca.key")), quote(f("ca.pem")), quote("/CN=plexauth test CA")))
  run(string.format("openssl req %s -keyout %s -out %s -subj %s",
    ec, quote(f("server.key")), quote(f("server.csr")), quote("/CN=" .. names[1])))
  local san = {}
  for i, n in ipairs(names) do san[i] = "DNS:" .. n end
  write(f("server.ext"), "subjectAltName=" .. table.concat(san, ",") .. "\n"
    .. "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
    .. "extendedKeyUsage=serverAuth\n")
  run(string.format("openssl x509 -req -in %s -CA %s -CAkey %s -CAcreateserial"
    .. " -out %s -days 2 -extfile %s",
    quote(f("server.csr")), quote(f("ca.pem")), quote(f("ca.key")),
    quote(f("server.pem")), quote(f("server.ext"))))
  return setmetatable({ dir = dir, ca = f("ca.pem"), ca_key = f("ca.key"),
                        cert = f("server.pem"), key = f("server.key") }, Pki)
end

return M
