-- An mpv script (spec/mpv/run starts mpv with it): requires plexauth from
-- package.path/cpath (built for mpv's own Lua), fetches a transient token
-- from the server in PLEX_URL with the token in PLEX_TOKEN, prints the
-- result through mp.msg and quits mpv with status 0, or 3 on failure.
local msg = require("mp.msg")

local ok, result = pcall(function()
  local plexauth = require("plexauth")
  local client = plexauth.from_env{ retries = false, timeout = 10 }
  local res = client:get_transient_token()
  client:close()
  return res.token
end)

if ok then
  msg.info(string.format("plexauth-test: ok (%s) token=%s", _VERSION, result))
  mp.commandv("quit", "0")
else
  msg.error("plexauth-test: failed: " .. tostring(result))
  mp.commandv("quit", "3")
end
