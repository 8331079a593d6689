-- wrk script for loadtests/bench_replicas.py: keep-alive POSTs of prepared JSON bodies, cycled.
--   wrk -t1 -c16 -d3s -s loadtests/wrk_post.lua http://127.0.0.1:8000 -- <bodies file> <path>
-- The bodies file holds one JSON document a line; the requests are built once, in init, so each
-- request costs a table lookup. done() prints one JSON line for the benchmark to read.
local requests, i = {}, 0

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  for line in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("POST", args[2], headers, line)
  end
end

function request()
  i = i % #requests + 1
  return requests[i]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": {"connect": %d, '
      .. '"read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
