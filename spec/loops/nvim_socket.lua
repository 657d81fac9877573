--- The part of LuaSocket that spec/support/fake.lua uses (bind, tcp with
-- connect/send/receive/close, gettime, sleep), on Neovim's vim.loop, for the
-- Neovim host: LuaSocket's C module cannot load into Neovim, whose own
-- exported `socket_connect` its calls would bind to. Blocking calls run
-- Neovim's loop with vim.wait until they are done.
return function(vim)
  local uv = vim.loop
  local M = {}

  local function wait(cond, seconds)
    return vim.wait(math.floor((seconds or 10) * 1000), cond, 1)
  end

  function M.gettime()
    return uv.hrtime() / 1e9
  end

  function M.sleep(seconds)
    uv.sleep(math.floor(seconds * 1000))
  end

  local Server = {}
  Server.__index = Server
  function Server:getsockname()
    local a = self.h:getsockname()
    return a.ip, a.port
  end
  function Server:close()
    self.h:close()
  end

  function M.bind(host, port)
    local h = uv.new_tcp()
    local ok, err = h:bind(host, port)
    if not ok then
      h:close()
      return nil, err
    end
    return setmetatable({ h = h }, Server)
  end

  local Tcp = {}
  Tcp.__index = Tcp

  function M.tcp()
    return setmetatable({ h = uv.new_tcp(), buf = "", timeout = 10 }, Tcp)
  end

  function Tcp:settimeout(t)
    self.timeout = t
  end

  function Tcp:connect(host, port)
    local done, err
    self.h:connect(host, port, function(e)
      done, err = true, e
    end)
    if not wait(function() return done end, self.timeout) then return nil, "timeout" end
    if err then return nil, err end
    self.h:read_start(function(e, data)
      if e then self.err = e
      elseif data then self.buf = self.buf .. data
      else self.eof = true end
    end)
    return 1
  end

  function Tcp:send(data)
    local done, err
    self.h:write(data, function(e)
      done, err = true, e
    end)
    if not wait(function() return done end, self.timeout) then return nil, "timeout" end
    if err then return nil, err end
    return #data
  end

  function Tcp:receive(pattern)
    local function ended() return self.eof or self.err end
    if pattern == "*l" or pattern == nil then
      wait(function() return self.buf:find("\n", 1, true) or ended() end, self.timeout)
      local i = self.buf:find("\n", 1, true)
      if not i then return nil, ended() and "closed" or "timeout" end
      local line = self.buf:sub(1, i - 1):gsub("\r$", "")
      self.buf = self.buf:sub(i + 1)
      return line
    elseif pattern == "*a" then
      wait(ended, self.timeout)
      local all = self.buf
      self.buf = ""
      return all
    end
    wait(function() return #self.buf >= pattern or ended() end, self.timeout)
    if #self.buf < pattern then return nil, ended() and "closed" or "timeout", self.buf end
    local data = self.buf:sub(1, pattern)
    self.buf = self.buf:sub(pattern + 1)
    return data
  end

  function Tcp:close()
    if not self.h:is_closing() then self.h:close() end
  end

  return M
end
