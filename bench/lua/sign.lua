-- POST the real signing form with a unique address per request:
-- <BENCH_PREFIX>-<thread>-<n>@example.org. The CSRF token and the session cookie
-- it belongs to were fetched once by bench/run.py (Flask-WTF tokens are per session
-- and not single-use).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local prefix = os.getenv("BENCH_PREFIX")
local path = os.getenv("BENCH_PATH")
local csrf = os.getenv("BENCH_CSRF")
local n = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE")

function request()
  n = n + 1
  local body = "csrf_token=" .. csrf ..
    "&first_name=Ada&last_name=Bench&email=" .. prefix .. "-" .. thread_id .. "-" .. n ..
    "%40example.org&country=FR&postcode=75001&comment=&updates_opt_in=y"
  return wrk.format("POST", path, nil, body)
end
