-- wrk script: POST /token with requests read from a file, one per line: "<Authorization value>\t<form body>".
-- BENCH_LINES: the file (written by ratios.sh, so Basic encoding and bodies cost wrk nothing).
-- BENCH_PICK:  "rotate" (each thread walks the lines from its own offset) or "random".
-- BENCH_WRK_THREADS: wrk's -t, for the offsets.
-- The same script drives the 1-client and the 100,000-client runs, so wrk's cost is the same.

local path = os.getenv("BENCH_LINES") or error("BENCH_LINES is not set")
local pick = os.getenv("BENCH_PICK") or "rotate"

local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local reqs, n, i = {}, 0, 0
function init(args)
  local hdr = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  for line in io.lines(path) do
    local auth, body = line:match("^([^\t]*)\t(.*)$")
    if auth then
      hdr["Authorization"] = auth
      n = n + 1
      reqs[n] = wrk.format("POST", nil, hdr, body)
    end
  end
  if n == 0 then error("no requests in " .. path) end
  -- Threads start at different offsets, so two threads do not log the same user in together.
  local nthreads = tonumber(os.getenv("BENCH_WRK_THREADS") or "2")
  i = math.floor((tid or 0) * n / nthreads)
  math.randomseed(os.time() + (tid or 0) * 7919)
end

function request()
  if pick == "random" then
    return reqs[math.random(n)]
  end
  i = i % n + 1
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d socket_errors=%d non2xx=%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status))
end
