-- luacheck configuration: `make lint`.
std = "lua54+luajit"
max_line_length = 120
files["spec"] = { std = "+busted" }
files["spec/mpv"] = { read_globals = { "mp" } }
files["bench/report.lua"] = { max_line_length = false }
