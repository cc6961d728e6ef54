-- GET the URL given on the command line; statuses counted by common.lua.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
