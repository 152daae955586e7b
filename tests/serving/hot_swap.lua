-- wrk script of the hot swap test (hot_swap_test.cc). Every request is the
-- same POST of the JSON body in the file named by HOT_SWAP_BODY_FILE. Each
-- response is checked against the bodies that the two versions send, which
-- are in the files named by HOT_SWAP_EXPECTED_1 and HOT_SWAP_EXPECTED_2.
-- The summary is one line:
--
--   HOT_SWAP requests=N version_1=N version_2=N unexpected=N
--            connect_errors=N read_errors=N write_errors=N timeouts=N
--            status_errors=N first_unexpected=<status>:<body>
--
-- unexpected counts responses that are not a 200 with one of the two bodies.

local function read_file(variable)
  local name = os.getenv(variable)
  if name == nil then
    error(variable .. " is not set; it must name a file")
  end
  local file = assert(io.open(name, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end

wrk.method = "POST"
wrk.body = read_file("HOT_SWAP_BODY_FILE")
wrk.headers["Content-Type"] = "application/json"
local expected_1 = read_file("HOT_SWAP_EXPECTED_1")
local expected_2 = read_file("HOT_SWAP_EXPECTED_2")

-- Counters of each wrk thread, read by done() through thread:get().
version_1 = 0
version_2 = 0
unexpected = 0
first_unexpected = ""

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  if status == 200 and body == expected_1 then
    version_1 = version_1 + 1
  elseif status == 200 and body == expected_2 then
    version_2 = version_2 + 1
  else
    unexpected = unexpected + 1
    if first_unexpected == "" then
      first_unexpected = status .. ":" .. string.sub(body or "", 1, 200)
    end
  end
end

function done(summary, latency, requests)
  local total_1, total_2, total_unexpected, first = 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    total_1 = total_1 + thread:get("version_1")
    total_2 = total_2 + thread:get("version_2")
    total_unexpected = total_unexpected + thread:get("unexpected")
    if first == "" then
      first = thread:get("first_unexpected")
    end
  end
  local errors = summary.errors
  io.write(string.format(
    "HOT_SWAP requests=%d version_1=%d version_2=%d unexpected=%d " ..
    "connect_errors=%d read_errors=%d write_errors=%d timeouts=%d status_errors=%d " ..
    "first_unexpected=%s\n",
    summary.requests, total_1, total_2, total_unexpected,
    errors.connect, errors.read, errors.write, errors.timeout, errors.status, first))
end
