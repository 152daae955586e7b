-- wrk script of the serving benchmark: every request is the same POST of the
-- JSON body in the file named by BENCH_BODY_FILE, and the summary is one
-- machine-readable line that bench/serving/run.sh parses:
--
--   BENCH requests=N duration_us=N p50_us=N p90_us=N p99_us=N max_us=N
--         status_errors=N connect_errors=N read_errors=N write_errors=N timeouts=N
--
-- status_errors counts responses with an HTTP status of 400 or more (wrk
-- 4.1 counts nothing else there). Latencies are wrk's, from the moment a
-- request is written to the moment its response is read, in microseconds.

local body_file = os.getenv("BENCH_BODY_FILE")
if body_file == nil then
  error("BENCH_BODY_FILE is not set; it must name the JSON request body file")
end
local file = assert(io.open(body_file, "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "status_errors=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    errors.status, errors.connect, errors.read, errors.write, errors.timeout))
end
