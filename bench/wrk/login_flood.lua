-- wrk: POST /api/v1/auth/login to organisation $BENCH_SLUG with an email nobody has (a new one
-- every request) and a wrong password: every request costs the server a full argon2
-- verification of the dummy hash, and no account's delay ever starts. Prints the answers'
-- statuses as "FLOOD_JSON {...}" besides the usual figures.
package.path = package.path .. ";" .. (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua"
require("common")

local slug = os.getenv("BENCH_SLUG")
local n = 0
s401, s429, s503, sother = 0, 0, 0, 0

local threads = {}
local common_setup = setup
function setup(thread)
   common_setup(thread)
   threads[#threads + 1] = thread
end

function request()
   n = n + 1
   local body = string.format(
      '{"organisation":"%s","email":"flood-%d-%d@flood.example","password":"not the password at all"}',
      slug, thread_id or 1, n)
   return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
   if status == 401 then s401 = s401 + 1
   elseif status == 429 then s429 = s429 + 1
   elseif status == 503 then s503 = s503 + 1
   else sother = sother + 1 end
end

local common_done = done
function done(summary, latency, requests)
   local c = { 0, 0, 0, 0 }
   for _, t in ipairs(threads) do
      c[1] = c[1] + t:get("s401")
      c[2] = c[2] + t:get("s429")
      c[3] = c[3] + t:get("s503")
      c[4] = c[4] + t:get("sother")
   end
   io.write(string.format('FLOOD_JSON {"s401":%d,"s429":%d,"s503":%d,"other":%d}\n', c[1], c[2], c[3], c[4]))
   common_done(summary, latency, requests)
end
