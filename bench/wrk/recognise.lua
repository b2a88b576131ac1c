-- wrk: POST /api/v1/recognitions. $BENCH_TOKENS holds "giver-token recipient-id" pairs (the
-- same pairs as bench.picks, which pgbench draws from); each request takes one at random and
-- recognises the recipient with $BENCH_KUDOS_POINTS points in $BENCH_KUDOS_DIMENSION.
package.path = package.path .. ";" .. (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua"
require("common")

local path = os.getenv("BENCH_PATH")
local body = '{"recipients":["%s"],"message":"' .. os.getenv("BENCH_KUDOS_MESSAGE") ..
   '","points":' .. os.getenv("BENCH_KUDOS_POINTS") ..
   ',"dimension":"' .. os.getenv("BENCH_KUDOS_DIMENSION") .. '"}'
local picks

function init(args)
   picks = {}
   for _, line in ipairs(read_lines(os.getenv("BENCH_TOKENS"))) do
      local token, recipient = line:match("^(%S+) (%S+)$")
      picks[#picks + 1] = { token, recipient }
   end
   math.randomseed(os.time() + (thread_id or 1) * 1000003)
end

function request()
   local p = picks[math.random(#picks)]
   return wrk.format("POST", path, {
      ["Authorization"] = "Bearer " .. p[1],
      ["Content-Type"] = "application/json",
   }, string.format(body, p[2]))
end
