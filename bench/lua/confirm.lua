-- POST the confirm button of pre-created pending signatures, one token each.
-- Thread i of BENCH_THREADS takes tokens i, i + threads, i + 2 * threads, ... of
-- BENCH_TOKENS_FILE; a thread that runs out repeats its last token (a harmless
-- second confirmation, which run.py notices: confirmations stored < accepted).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local csrf = os.getenv("BENCH_CSRF")
local threads = tonumber(os.getenv("BENCH_THREADS"))
local tokens = {}
local position = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE")

function init(args)
  local index = 0
  for line in io.lines(os.getenv("BENCH_TOKENS_FILE")) do
    if index % threads == thread_id then
      table.insert(tokens, line)
    end
    index = index + 1
  end
end

function request()
  position = math.min(position + 1, #tokens)
  return wrk.format("POST", "/confirm/" .. tokens[position], nil, "csrf_token=" .. csrf)
end
