--- How a call waits: the two drivers of the call state machine.
--
-- * blocking: one reused easy handle (`curl_easy_perform`); back-off sleeps
--   in the calling thread; parallel work blocks in poll(2) on a multi.
-- * loop: transfers on the client's multi, driven by a pump on the host's
--   loop; every wait suspends the calling task.
--
-- Both have the same interface, which is all `plexauth.call`,
-- `Client:connect_device` and the account's PIN polling use:
--
--     drv:check()                        ArgumentError when the caller may not call now
--     drv:perform(method, url, headers, body)
--                                        res, decode_err | nil, reason, curl_code, message
--     drv:sleep(seconds)                 false when the call was cancelled
--     drv:batch(transport)               parallel transfers on a new multi:
--                                        b:start(method, url) -> id (nil: cancelled),
--                                        b:next() -> id, result... (nil: none pending;
--                                        false, nil, "cancelled", ...: cancelled),
--                                        b:close()
--     drv:close()
-- @module plexauth.driver
local core = require("plexauth.core")

local M = {}

local unpack = table.unpack or unpack
local function pack(...) return { n = select("#", ...), ... } end

-- Blocking -----------------------------------------------------------------

local Blocking = {}
Blocking.__index = Blocking

--- The blocking driver over a configured `core.session`.
function M.blocking(session)
  return setmetatable({ session = session }, Blocking)
end

function Blocking.check() end

function Blocking:perform(method, target, headers, body)
  return self.session:perform(method, target, headers, body)
end

function Blocking.sleep(_, seconds)
  core.sleep(seconds)
  return true
end

function Blocking:close()
  self.session:close()
end

local BlockingBatch = {}
BlockingBatch.__index = BlockingBatch

function Blocking.batch(_, transport)
  return setmetatable({ multi = core.multi(transport), n = 0, queue = {}, head = 1, tail = 0 },
                      BlockingBatch)
end

function BlockingBatch:start(method, target, headers, body)
  self.n = self.n + 1
  return self.multi:start(method, target, headers, body)
end

function BlockingBatch:next()
  local q, multi = self.queue, self.multi
  while q[self.head] == nil do
    if self.n == 0 then return nil end
    multi:wait(1) -- libcurl's timer is part of the descriptor
    local _, done = multi:step()
    for _, id in ipairs(done or {}) do
      self.tail = self.tail + 1
      q[self.tail] = { id = id, r = pack(multi:result(id)) }
      self.n = self.n - 1
    end
  end
  local e = q[self.head]
  q[self.head] = nil
  self.head = self.head + 1
  return e.id, unpack(e.r, 1, e.r.n)
end

function BlockingBatch:close()
  self.multi:close()
end

-- Loop ---------------------------------------------------------------------

local Looped = {}
Looped.__index = Looped

--- The loop driver: transfers on `multi`, pumped on `loop`.
-- @tparam plexauth.Loop loop
-- @param multi a `core.multi`
function M.loop(loop, multi)
  return setmetatable({ loop = loop, pump = loop:pump(multi) }, Looped)
end

function Looped:check()
  self.loop:context()
end

function Looped:perform(method, target, headers, body)
  local b = self.pump:batch()
  if not b:start(method, target, headers, body) then
    return nil, "cancelled", 42, "cancelled"
  end
  return select(2, b:next())
end

function Looped:sleep(seconds)
  return self.loop:sleep(seconds)
end

function Looped:close()
  self.pump:close()
end

local LoopBatch = {}
LoopBatch.__index = LoopBatch

function Looped:batch(transport)
  local pump = self.loop:pump(core.multi(transport))
  return setmetatable({ pump = pump, b = pump:batch() }, LoopBatch)
end

function LoopBatch:start(method, target, headers, body)
  return self.b:start(method, target, headers, body)
end

function LoopBatch:next()
  return self.b:next()
end

function LoopBatch:close()
  self.b:close()
  self.pump:close()
end

return M
