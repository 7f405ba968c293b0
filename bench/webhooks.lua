-- wrk script: replay pre-signed Jira webhooks, each with its own identifier, then drain exactly.
--
-- Driven by bench/run.py; configured through the environment (wrk passes no arguments to the
-- setup and done phases, but every phase can read the environment):
--
--   BENCH_REQUESTS  file of pre-signed requests, one per line:
--                   identifier <TAB> body index (0-based) <TAB> request target <TAB> JWT
--   BENCH_BODIES    file of request bodies, one compact JSON document per line
--   BENCH_HOST      value of the Host header (e.g. 127.0.0.1:8000)
--   BENCH_TAG       prefix making identifiers unique per run ("c64-" + identifier from the file)
--   BENCH_SECONDS   stop issuing webhooks after this many seconds (time-bounded run), or
--   BENCH_COUNT     stop issuing webhooks after this many requests (count-bounded run)
--   BENCH_RESULT    where done() writes the results as JSON
--   BENCH_SCHEME    the Authorization scheme of the tokens (JWT, the default; Bearer for Forge)
--   BENCH_ID_IN_BODY  1: the identifier goes into the body as its first field (`benchId`), not
--                   into X-Atlassian-Webhook-Identifier (Forge sends no identifier header)
--   BENCH_HEADERS   raw header lines every request carries (e.g. Forge's system token)
--
-- Why not plain `wrk -d`: wrk stops at its deadline with requests still in flight, so the number
-- of 2xx it saw and the number of deliveries the server stored differ by up to the concurrency.
-- Here the script stops *issuing* at the deadline (delay() parks every connection that finishes),
-- waits until every issued webhook has been answered, then stops the thread and ends wrk with
-- SIGINT. So "stored rows == 2xx answers" can be checked exactly afterwards. Requests per second
-- is computed over that exact window (first request to last answer), not wrk's -d.
--
-- Run with ONE wrk thread (-t1): the load generator is pinned to one core, where one thread is
-- the fastest, and the drain/stop logic relies on it.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
  int getpid(void);
  int kill(int pid, int sig);
]]
local CLOCK_MONOTONIC = 1
local SIGINT = 2
local PARK_MS = 3600 * 1000 -- a parked connection waits "forever"; the thread stops first
local timespec = ffi.new("bench_timespec")

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

-- Per-thread state (each wrk thread has its own Lua environment).
local prefixes = {}  -- per request: everything before the body, headers included
local body_of = {}   -- per request: the index of its body
local ids = {}       -- per request, with BENCH_ID_IN_BODY: its identifier
local id_in_body = false
local bodies = {}
local count = 0
local next_index = 1
local round = 1
local seconds, quota, started, deadline
local draining = false
local stopped = false

-- Counters read by done() through thread:get (globals, so that get() can see them).
issued = 0    -- webhook requests handed to wrk
answered = 0  -- responses received for them
ok = 0        -- 2xx
non2xx = 0    -- any other status
bad_statuses = {} -- status -> count of the non-2xx answers
wrapped = 0   -- requests that reused a line of the file (the file was too short)
window = 0    -- seconds from the first request to the last answer

local function read_lines(path)
  local file = assert(io.open(path, "rb"), "cannot open " .. path)
  local lines = {}
  for line in file:lines() do
    lines[#lines + 1] = line
  end
  file:close()
  return lines
end

function setup(thread)
  -- Only one thread is supported (see the header comment); remember it for done().
  assert(not _G.bench_thread, "webhooks.lua needs exactly one wrk thread (-t1)")
  _G.bench_thread = thread
end

function init(args)
  local host = assert(os.getenv("BENCH_HOST"), "BENCH_HOST is not set")
  local tag = os.getenv("BENCH_TAG") or ""
  local scheme = os.getenv("BENCH_SCHEME") or "JWT"
  local extra = os.getenv("BENCH_HEADERS") or ""
  id_in_body = os.getenv("BENCH_ID_IN_BODY") == "1"
  seconds = tonumber(os.getenv("BENCH_SECONDS") or "")
  quota = tonumber(os.getenv("BENCH_COUNT") or "")
  assert(seconds or quota, "set BENCH_SECONDS or BENCH_COUNT")
  for index, body in ipairs(read_lines(assert(os.getenv("BENCH_BODIES")))) do
    bodies[index - 1] = body
  end
  -- The fixed part of every request, built once: only the target, token, identifier and body
  -- change from one request to the next.
  for _, line in ipairs(read_lines(assert(os.getenv("BENCH_REQUESTS")))) do
    local identifier, body_index, target, token = line:match("^([^\t]+)\t(%d+)\t([^\t]+)\t([^\t]+)$")
    assert(identifier, "malformed request line: " .. line)
    local body = assert(bodies[tonumber(body_index)], "no body " .. body_index)
    count = count + 1
    if id_in_body then
      -- the body (and so its length) changes with the identifier: both are added per request
      prefixes[count] = table.concat({
        "POST ", target, " HTTP/1.1\r\n",
        "Host: ", host, "\r\n",
        "Content-Type: application/json\r\n",
        "Accept: */*\r\n",
        "Authorization: ", scheme, " ", token, "\r\n",
        extra,
        "Content-Length: ",
      })
      ids[count] = tag .. identifier
    else
      prefixes[count] = table.concat({
        "POST ", target, " HTTP/1.1\r\n",
        "Host: ", host, "\r\n",
        "User-Agent: Atlassian Webhook HTTP Client\r\n",
        "Content-Type: application/json; charset=UTF-8\r\n",
        "Accept: */*\r\n",
        "Authorization: ", scheme, " ", token, "\r\n",
        extra,
        "X-Atlassian-Webhook-Flow: Primary\r\n",
        "Content-Length: ", tostring(#body), "\r\n",
        "X-Atlassian-Webhook-Identifier: ", tag, identifier,
      })
    end
    body_of[count] = tonumber(body_index)
  end
  assert(count > 0, "no requests in " .. os.getenv("BENCH_REQUESTS"))
end

local function finish_if_drained()
  if draining and not stopped and answered == issued then
    stopped = true
    window = now() - started
    wrk.thread:stop()
    ffi.C.kill(ffi.C.getpid(), SIGINT) -- ends wrk's main sleep at once, then done() runs
  end
end

-- Called before every request: 0 ms while the run lasts, then park the connection.
function delay()
  if not draining then
    if started == nil then
      started = now()
      deadline = seconds and (started + seconds) or nil
    end
    if (quota and issued >= quota) or (deadline and now() >= deadline) then
      draining = true
    end
  end
  if draining then
    finish_if_drained()
    return PARK_MS
  end
  return 0
end

-- One request: with BENCH_ID_IN_BODY the identifier opens the JSON body, else it ends the headers.
local function build(index, suffix)
  local body = bodies[body_of[index]]
  if id_in_body then
    body = '{"benchId":"' .. ids[index] .. suffix .. '",' .. body:sub(2)
    return prefixes[index] .. tostring(#body) .. "\r\n\r\n" .. body
  end
  return prefixes[index] .. suffix .. "\r\n\r\n" .. body
end

function request()
  if started == nil then
    -- wrk calls request() once before the run to check the script's requests (delay() always
    -- runs before a real one): answer with the first request, without counting it.
    return build(1, "")
  end
  local index = next_index
  next_index = next_index + 1
  if next_index > count then
    next_index = 1
    round = round + 1
  end
  issued = issued + 1
  local suffix = ""
  if round > 1 then
    -- Out of pre-signed lines: reuse one (its token is still valid) under a new identifier.
    wrapped = wrapped + 1
    suffix = "-r" .. round
  end
  return build(index, suffix)
end

function response(status, headers, body)
  answered = answered + 1
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    non2xx = non2xx + 1
    bad_statuses[status] = (bad_statuses[status] or 0) + 1
  end
  finish_if_drained()
end

function done(summary, latency, requests)
  local thread = _G.bench_thread
  local function get(name)
    return thread:get(name) or 0
  end
  local parts = {}
  for status, n in pairs(thread:get("bad_statuses") or {}) do
    parts[#parts + 1] = status .. "=" .. n
  end
  local fields = {
    string.format('"issued": %d', get("issued")),
    string.format('"answered": %d', get("answered")),
    string.format('"ok": %d', get("ok")),
    string.format('"non2xx": %d', get("non2xx")),
    string.format('"non2xx_statuses": "%s"', table.concat(parts, ",")),
    string.format('"wrapped": %d', get("wrapped")),
    string.format('"window_seconds": %.6f', get("window")),
    string.format('"wrk_requests": %d', summary.requests),
    string.format('"wrk_duration_us": %d', summary.duration),
    string.format('"errors_connect": %d', summary.errors.connect),
    string.format('"errors_read": %d', summary.errors.read),
    string.format('"errors_write": %d', summary.errors.write),
    string.format('"errors_status": %d', summary.errors.status),
    string.format('"errors_timeout": %d', summary.errors.timeout),
    string.format('"latency_p50_us": %d', latency:percentile(50)),
    string.format('"latency_p90_us": %d', latency:percentile(90)),
    string.format('"latency_p99_us": %d', latency:percentile(99)),
    string.format('"latency_p999_us": %d', latency:percentile(99.9)),
    string.format('"latency_max_us": %d', latency.max),
    string.format('"latency_mean_us": %.1f', latency.mean),
  }
  local file = assert(io.open(assert(os.getenv("BENCH_RESULT")), "w"))
  file:write("{" .. table.concat(fields, ", ") .. "}\n")
  file:close()
end
