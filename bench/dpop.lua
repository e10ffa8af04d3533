-- wrk script: POST /token with a DPoP proof, from lines "<Authorization>\t<DPoP>\t<form body>"
-- (bench_dpop_proofs). Every proof may be used once (its jti is single-use), so thread t of
-- BENCH_WRK_THREADS takes every line whose number is t modulo the thread count, and walks them
-- once; past the end a proof is replayed and answered 400, which shows in non2xx.

local path = os.getenv("BENCH_LINES") or error("BENCH_LINES is not set")

local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local reqs, n, i = {}, 0, 0
function init(args)
  local nthreads = tonumber(os.getenv("BENCH_WRK_THREADS") or "2")
  local k = 0
  for line in io.lines(path) do
    if k % nthreads == (tid or 0) then
      local auth, proof, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      if auth then
        n = n + 1
        reqs[n] = wrk.format("POST", nil, {
          ["Content-Type"] = "application/x-www-form-urlencoded",
          ["Authorization"] = auth,
          ["DPoP"] = proof,
        }, body)
      end
    end
    k = k + 1
  end
  if n == 0 then error("no requests in " .. path) end
end

function request()
  i = i % n + 1
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d socket_errors=%d non2xx=%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status))
end
