-- One wrk run against one route, set up from environment variables (wrk hands script
-- arguments to init() only, and setup() and done() need the settings too):
--   BENCH_METHOD         the request method (GET when unset)
--   BENCH_AUTHORIZATION  the Authorization header, if any
--   BENCH_BODY           a form body, if any; with BENCH_POOL_FILE, its "{device_code}" is
--                        replaced by the next device code of the pool on every request
--   BENCH_POOL_FILE      device codes, one a line
--   BENCH_THREADS        wrk's -t: the pool is cut into that many disjoint shares, one per
--                        thread, so that no two threads poll one code close together
-- done() prints one line "BENCH_RESULT <json>": requests, duration, latency percentiles,
-- socket errors, and per answer ("<status> <error of the JSON body, or ->") its count, so
-- that the caller can check that each route gave only the answer it should.

local body = os.getenv("BENCH_BODY")
local pool_file = os.getenv("BENCH_POOL_FILE")

wrk.method = os.getenv("BENCH_METHOD") or "GET"
if os.getenv("BENCH_AUTHORIZATION") then
   wrk.headers["Authorization"] = os.getenv("BENCH_AUTHORIZATION")
end
if body then
   wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
   wrk.body = body
end

-- In the main Lua state: number the threads and keep them for done().
local threads = {}

function setup(thread)
   thread:set("thread_number", #threads)
   table.insert(threads, thread)
end

-- In each thread's Lua state (a global, so that done() can read it with thread:get).
answers = {}

local codes = {}
local next_code = 0
local body_before, body_after

function init(args)
   if not pool_file then
      return
   end
   local shares = tonumber(os.getenv("BENCH_THREADS") or "1")
   local index = 0
   for line in io.lines(pool_file) do
      if line ~= "" then
         if index % shares == thread_number then
            table.insert(codes, line)
         end
         index = index + 1
      end
   end
   assert(#codes > 0, "no device codes for thread " .. thread_number)
   body_before, body_after = string.match(body, "^(.*){device_code}(.*)$")
   assert(body_before, "BENCH_BODY has no {device_code}")
end

-- Without a pool, wrk sends one request built once; request() would only slow it down.
if pool_file then
   function request()
      next_code = next_code % #codes + 1
      return wrk.format(nil, nil, nil, body_before .. codes[next_code] .. body_after)
   end
end

function response(status, headers, response_body)
   local err = string.match(response_body or "", '"error"%s*:%s*"([^"]*)"') or "-"
   local answer = status .. " " .. err
   answers[answer] = (answers[answer] or 0) + 1
end

local function json_string(text)
   return '"' .. string.gsub(text, '[^%w _.:-]', "?") .. '"'
end

local function json_object(map)
   local fields = {}
   for key, value in pairs(map) do
      table.insert(fields, json_string(key) .. ":" .. value)
   end
   return "{" .. table.concat(fields, ",") .. "}"
end

function done(summary, latency, requests)
   local total = {}
   for _, thread in ipairs(threads) do
      for answer, count in pairs(thread:get("answers")) do
         total[answer] = (total[answer] or 0) + count
      end
   end
   local errors = summary.errors
   io.write("BENCH_RESULT ", json_object({
      requests = summary.requests,
      duration_us = summary.duration,
      p50_us = latency:percentile(50),
      p99_us = latency:percentile(99),
      max_us = latency.max,
      socket_errors = json_object({
         connect = errors.connect, read = errors.read, write = errors.write, timeout = errors.timeout }),
      answers = json_object(total),
   }), "\n")
end
