--- Retry policy: which outcomes to retry and how long to wait.
-- @module plexauth.retry
local M = {}

--- The defaults a partial `retries` table is merged with.
-- @table defaults
-- @field max_attempts 3
-- @field initial_interval 0.5 (seconds)
-- @field max_interval 10 (seconds)
-- @field exponent 1.5
-- @field max_elapsed_time 30 (seconds)
-- @field retry_connection_errors true
-- @field status_codes `{ 429, 502, 503, 504 }`
M.defaults = {
  max_attempts = 3,
  initial_interval = 0.5,
  max_interval = 10,
  exponent = 1.5,
  max_elapsed_time = 30,
  retry_connection_errors = true,
  status_codes = { 429, 502, 503, 504 },
}

--- The policy for a `retries` option (already validated): a table with the
-- defaults filled in and `retry_status` as a set; `false` gives one attempt.
function M.policy(retries)
  local p = {}
  for k, v in pairs(M.defaults) do p[k] = v end
  if retries == false then
    p.max_attempts = 1
  elseif retries then
    for k, v in pairs(retries) do p[k] = v end
  end
  p.retry_status = {}
  for _, code in ipairs(p.status_codes) do p.retry_status[code] = true end
  return p
end

--- True when an attempt that ended with `err` may be retried.
-- @param p a policy
-- @param method the request method
-- @param err the error of the attempt
function M.retryable(p, method, err)
  if method ~= "GET" and method ~= "HEAD" then return false end
  if err.kind == "transport" then
    return p.retry_connection_errors and err.reason == "connect"
  end
  return err.kind == "api" and p.retry_status[err.status_code] == true
end

--- Seconds to wait before attempt `attempt + 1`: `Retry-After` (seconds)
-- when the server sent one, else exponential back-off with jitter; both
-- capped at `max_interval`.
function M.delay(p, attempt, headers)
  local after = headers and tonumber(headers["retry-after"])
  if after and after >= 0 then
    return math.min(after, p.max_interval)
  end
  local base = p.initial_interval * p.exponent ^ (attempt - 1)
  return math.min(base * (0.5 + 0.5 * math.random()), p.max_interval)
end

return M
