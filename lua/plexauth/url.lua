--- URLs, query strings and addresses.
-- @module plexauth.url
local M = {}

-- "%XX" for every byte, so escaping is a table look-up per byte; each
-- entry is made on first use (start-up costs nothing).
local ESCAPED = setmetatable({}, { __index = function(t, c)
  local e = string.format("%%%02X", string.byte(c))
  t[c] = e
  return e
end })

--- Percent-encodes every byte but the unreserved ones (RFC 3986).
-- @tparam string s
-- @treturn string
function M.escape(s)
  return (string.gsub(s, "[^%w%-%._~]", ESCAPED))
end

local function query_value(v)
  if v == true then return "1" end
  if v == false then return "0" end
  if type(v) == "number" and v == math.floor(v) and v >= -2^53 and v <= 2^53 then
    return string.format("%d", v)
  end
  return tostring(v)
end

--- Builds a query string from a table of string/number/boolean values,
-- keys sorted so that equal tables give equal URLs.
-- @tparam table query
-- @treturn string without the leading `?` (empty for an empty table)
function M.query(query)
  local keys = {}
  for k in pairs(query) do keys[#keys + 1] = k end
  table.sort(keys)
  for i, k in ipairs(keys) do
    keys[i] = M.escape(k) .. "=" .. M.escape(query_value(query[k]))
  end
  return table.concat(keys, "&")
end

--- True for a dotted-quad IPv4 literal (no leading zeros: libcurl's
-- resolve entries, like inet_pton, reject them).
function M.is_ipv4(s)
  if type(s) ~= "string" then return false end
  local a, b, c, d = string.match(s, "^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return false end
  for _, part in ipairs({ a, b, c, d }) do
    if #part > 3 or tonumber(part) > 255 or string.match(part, "^0%d") then
      return false
    end
  end
  return true
end

--- True for an IPv6 literal (no brackets, no zone).
function M.is_ipv6(s)
  if type(s) ~= "string" or not string.find(s, ":", 1, true) then return false end
  local groups, max = 0, 8
  local head, tail = s, nil
  local dc = string.find(s, "::", 1, true)
  if dc then
    if string.find(s, "::", dc + 1, true) then return false end
    head, tail = string.sub(s, 1, dc - 1), string.sub(s, dc + 2)
    max = 7
  end
  for _, part in ipairs({ head, tail }) do
    if part ~= "" then
      local fields = {}
      for f in string.gmatch(part .. ":", "([^:]*):") do fields[#fields + 1] = f end
      for i, f in ipairs(fields) do
        if i == #fields and part == (tail or head) and M.is_ipv4(f) then
          groups = groups + 2
        elseif string.match(f, "^%x%x?%x?%x?$") then
          groups = groups + 1
        else
          return false
        end
      end
    end
  end
  if dc then return groups <= max end
  return groups == 8
end

--- Splits an http(s) URL into scheme, host (IPv6 without brackets), port
-- (number, or nil when absent) and path; nil when it is not one.
function M.split(u)
  local scheme, rest = string.match(u, "^(%a[%w+.-]*)://(.*)$")
  if not scheme then return nil end
  scheme = string.lower(scheme)
  local authority, path = string.match(rest, "^([^/?#]*)(.*)$")
  authority = string.gsub(authority, "^.*@", "")
  local host, port = string.match(authority, "^%[([^%]]*)%]:?(%d*)$")
  if not host then
    host, port = string.match(authority, "^([^:]*):?(%d*)$")
  end
  if not host or host == "" then return nil end
  return scheme, host, tonumber(port), path
end

--- Brackets an IPv6 literal for use in a URL or a curl resolve entry.
function M.bracket(host)
  if string.find(host, ":", 1, true) and not string.find(host, "^%[") then
    return "[" .. host .. "]"
  end
  return host
end

--- The address a `*.plex.direct` name encodes in its first label
-- (`10-0-2-123`, `2001-db8-0-0-0-0-0-1`), or nil when it encodes none.
-- @tparam string host
function M.plex_direct_address(host)
  local label = string.match(string.lower(host), "^([%w%-]+)%.[%w]+%.plex%.direct%.?$")
  if not label then return nil end
  local v4 = string.gsub(label, "%-", ".")
  if M.is_ipv4(v4) then return v4 end
  local v6 = string.gsub(label, "%-", ":")
  if M.is_ipv6(v6) then return v6 end
  return nil
end

--- The curl resolve entry that pins a plex.direct URL to the address its
-- name encodes, or nil when `u` is not such a URL.
function M.plex_direct_pin(u)
  local scheme, host, port = M.split(u)
  local addr = scheme and M.plex_direct_address(host)
  if not addr then return nil end
  port = port or (scheme == "https" and 443 or 80)
  return host .. ":" .. port .. ":" .. M.bracket(addr)
end

return M
