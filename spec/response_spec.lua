-- Response fields as built from real answers of the fake PMS.
local plexauth = require("plexauth")
local cjson = require("cjson")
local fake = require("spec.support.fake")
local util = require("spec.support.util")

local is_integer = util.is_integer

describe("Response", function()
  local srv, c

  setup(function()
    srv = fake.start()
    c = plexauth.new{ server_url = srv.url, token = srv.token, retries = false }
  end)
  teardown(function()
    c:close()
    fake.stop_all()
  end)
  before_each(function() srv:reset() end)

  it("has status_code, content_type, headers, body, object and token", function()
    local res = c:get_transient_token()
    assert.equal(200, res.status_code)
    assert.is_true(is_integer(res.status_code))
    assert.equal("application/json", res.content_type)
    assert.is_table(res.headers)
    assert.equal("application/json", res.headers["content-type"])
    assert.equal(tostring(#res.body), res.headers["content-length"])
    assert.equal("1.0", res.headers["x-plex-protocol"])
    assert.is_string(res.body)
    assert.same(cjson.decode(res.body), res.object)
    assert.is_string(res.token)
    assert.equal(res.object.MediaContainer.token, res.token)
    assert.is_nil(res.device)
  end)

  it("get_source_connection_information's Response has device and no token", function()
    local res = c:get_source_connection_information("server://abc")
    assert.is_table(res.device)
    assert.is_nil(res.token)
    assert.same(cjson.decode(res.body), res.object)
  end)

  it("gives a repeated Content-Type joined, and then does not decode the body", function()
    srv:script{ { status = 200, body = "{}", content_type = "text/plain",
                  headers = { ["content-type"] = "application/json" } } }
    local res = c:request{ path = "/identity" }
    assert.equal("text/plain, application/json", res.content_type)
    assert.equal("text/plain, application/json", res.headers["content-type"])
    assert.is_nil(res.object)
  end)

  it("has only lower-case header names", function()
    srv:script{ { headers = { ["X-Mixed-Case"] = "Value Kept", ETAG = "\"abc\"" } } }
    local res = c:get_transient_token()
    local n = 0
    for name in pairs(res.headers) do
      n = n + 1
      assert.equal(name:lower(), name)
    end
    assert.is_true(n >= 5)
    assert.equal("Value Kept", res.headers["x-mixed-case"])
    assert.equal("\"abc\"", res.headers["etag"])
    assert.is_nil(res.headers["X-Mixed-Case"])
  end)

  it("joins repeated headers with ', ' in the order received", function()
    -- The fake always sends Cache-Control: no-cache; this adds a second one.
    srv:script{ { headers = { ["Cache-Control"] = "max-age=5" } } }
    local res = c:get_transient_token()
    assert.equal("no-cache, max-age=5", res.headers["cache-control"])
  end)

  it("joins repeated headers whose names differ in case", function()
    srv:script{ { headers = { ["X-Dup"] = "one", ["x-dup"] = "two" } } }
    local res = c:request{ path = "/identity" }
    local v = res.headers["x-dup"]
    assert.is_true(v == "one, two" or v == "two, one", v)
  end)

  it("decodes JSON null to plexauth.null, arrays to sequences, objects to tables", function()
    srv:script{ { status = 200, content_type = "application/json",
                  body = '{"a":null,"b":[1,null,"x"],"c":{"d":true,"e":1.5},"f":[]}' } }
    local res = c:request{ path = "/identity" }
    local o = res.object
    assert.equal(plexauth.null, o.a)
    assert.equal(cjson.null, o.a)
    assert.equal(3, #o.b)
    assert.equal(1, o.b[1])
    assert.equal(plexauth.null, o.b[2])
    assert.equal("x", o.b[3])
    assert.is_true(o.c.d)
    assert.equal(1.5, o.c.e)
    assert.same({}, o.f)
  end)

  it("keeps the raw body byte for byte", function()
    local body = '{ "MediaContainer" : { "token" : "t\\u00e9" } , "x": 1 }'
    srv:script{ { status = 200, content_type = "application/json; charset=utf-8", body = body } }
    local res = c:get_transient_token()
    assert.equal(body, res.body)
    assert.equal("application/json; charset=utf-8", res.content_type)
    assert.equal("t\195\169", res.token)
  end)

  it("reads a chunked body", function()
    srv:script{ { chunked = true } }
    local res = c:get_source_connection_information("server://chunked")
    assert.equal("server://chunked", res.object.MediaContainer.source)
    assert.is_nil(res.headers["content-length"])
  end)

  it("has content_type nil, body '' and object nil for a 204", function()
    srv:script{ { status = 204 } }
    local res = c:request{ path = "/identity" }
    assert.equal(204, res.status_code)
    assert.is_nil(res.content_type)
    assert.equal("", res.body)
    assert.is_nil(res.object)
  end)

  it("accepts any 2xx status", function()
    srv:script{ { status = 201, body = "{\"ok\":true}", content_type = "application/json" } }
    local res = c:request{ method = "POST", path = "/anything" }
    assert.equal(201, res.status_code)
    assert.is_true(res.object.ok)
  end)
end)

describe("the core's header conversion", function()
  local core = require("plexauth.core")

  -- Responses keep the raw header block until headers are read; both
  -- paths must give the same table and content type.
  local blocks = {
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-A: 1\r\nx-a: 2\r\n\r\n",
    "HTTP/1.1 200 OK\r\ncontent-type:  text/html ; charset=utf-8 \r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCONTENT-TYPE: application/json\r\n\r\n",
    "HTTP/1.1 200 OK\nContent-Typo: x\nContent-Type\t:\tapplication/vnd.plex+json\n\n",
    "HTTP/1.1 204 No Content\r\n\r\n",
    "",
  }

  it("gives the same headers and content type whether parsed at once or on first read", function()
    for _, raw in ipairs(blocks) do
      local eager = core.parse(200, raw, "{}")
      local lazy = core.headers(raw)
      assert.same(eager.headers, lazy)
      assert.equal(eager.headers["content-type"], eager.content_type)
    end
  end)

  it("joins a header repeated thousands of times, in order", function()
    local lines, values = {}, {}
    for i = 1, 5000 do
      values[i] = "v" .. i
      lines[i] = (i % 2 == 0 and "X-Many: " or "x-MANY:") .. values[i]
    end
    lines[#lines + 1] = "Other: o"
    local h = core.headers(table.concat(lines, "\r\n"))
    assert.equal(table.concat(values, ", "), h["x-many"])
    assert.equal("o", h.other)
  end)

  it("joins a repeated Content-Type like any other header", function()
    local res = core.parse(200, blocks[3], "{}")
    assert.equal("text/plain, application/json", res.content_type)
    assert.is_nil(res.object)
  end)
end)

