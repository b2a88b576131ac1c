-- Shared by the wrk scripts: thread ids, token files, and a done() hook that prints the
-- figures as one JSON line ("BENCH_JSON {...}") for scripts/bench.

local counter = 0
function setup(thread)
   counter = counter + 1
   thread:set("thread_id", counter)
end

function read_lines(path)
   local lines = {}
   for line in io.lines(path) do
      if #line > 0 then lines[#lines + 1] = line end
   end
   if #lines == 0 then error("no lines in " .. path) end
   return lines
end

function done(summary, latency, requests)
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_s":%.3f,"rps":%.2f,"p50_ms":%.3f,"p90_ms":%.3f,' ..
      '"p99_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f,"non_2xx_3xx":%d,"socket_errors":%d}\n',
      summary.requests, secs, summary.requests / secs,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000, latency.mean / 1000,
      e.status, e.connect + e.read + e.write + e.timeout))
end
