-- wrk script: POST the JSON body in $PAYLOAD, with $AUTHORIZATION as the Authorization header when
-- set, and with $STICKY_HEADER (when set) as a header whose value changes with every request
-- ("k-0" to "k-9999", so an endpoint's sticky hash sees many keys); prints one "WRKJSON {...}"
-- line at the end (the shape of ../shared/bench/post.lua).
local f = assert(io.open(os.getenv("PAYLOAD"), "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local authorization = os.getenv("AUTHORIZATION")
if authorization and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end
local sticky = os.getenv("STICKY_HEADER")
if sticky and sticky ~= "" then
  local counter = 0
  request = function()
    counter = counter + 1
    wrk.headers[sticky] = "k-" .. (counter % 10000)
    return wrk.format()
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
