-- wrk: GET $BENCH_PATH as the members whose access tokens are in $BENCH_TOKENS (one a line),
-- each thread going round the list from its own starting point.
package.path = package.path .. ";" .. (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua"
require("common")

local path = os.getenv("BENCH_PATH")
local tokens, i

function init(args)
   tokens = read_lines(os.getenv("BENCH_TOKENS"))
   i = (thread_id or 1) * 7919 % #tokens
end

function request()
   i = i % #tokens + 1
   return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. tokens[i] })
end
