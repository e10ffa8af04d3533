-- wrk script: POST /token with grant_type=client_credentials, client_secret_basic auth.
-- Credentials come from the environment: BENCH_CLIENT_ID, BENCH_CLIENT_SECRET.
-- Optional: BENCH_AUDIENCE (default https://bench.example).

local function urlencode(s)
  -- RFC 6749 §2.3.1: client_id and secret are form-urlencoded before Basic encoding.
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end

local id = os.getenv("BENCH_CLIENT_ID") or error("BENCH_CLIENT_ID is not set")
local secret = os.getenv("BENCH_CLIENT_SECRET") or error("BENCH_CLIENT_SECRET is not set")
local audience = os.getenv("BENCH_AUDIENCE") or "https://bench.example"

wrk.method = "POST"
wrk.body = "grant_type=client_credentials&audience=" .. urlencode(audience)
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. base64(urlencode(id) .. ":" .. urlencode(secret))

-- No response() callback: with one, wrk hands every response's headers and body to Lua, which
-- costs more CPU than oauthd spends on the request and, on a shared 2-core machine, halves the
-- measured rate. wrk still counts non-2xx responses itself; run.sh reads that count.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d socket_errors=%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout))
end
