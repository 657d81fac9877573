-- luacheck configuration: `make lint`.
std = "lua54+luajit"
max_line_length = 120
files["spec"] = { std = "+busted" }
files["spec/mpv"] = { read_globals = { "mp" } }
files["bench/report.lua"] = { max_line_length = false }
files["spec/loops/run_mpv.lua"] = { read_globals = { "mp" } }
files["spec/loops/run_nvim.lua"] = { read_globals = { "vim" } }
files["bench/stall.lua"] = { read_globals = { "mp", "vim" } }
