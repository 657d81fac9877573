# Benchmark: `make bench` runs bench/run against a loopback nginx.
# Uses LUA_VERSION, LUA, BUILD_DIR and the `build` target from the top-level Makefile.
# bench/nonblocking: the hosts (copas and mpv on Lua 5.2, Neovim on LuaJIT), lua-http, Node.
BENCH_PKGS = lua5.4 liblua5.4-dev lua5.2 lua-curl lua-cjson lua-socket libcurl4-openssl-dev \
             pkg-config gcc valgrind hyperfine time git curl \
             liblua5.2-dev luajit libluajit-5.1-dev lua-luv lua-cqueues lua-copas lua-http \
             neovim mpv
BENCH_SUDO = $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: bench bench-deps
bench: bench-deps build
	LUA_VERSION=$(LUA_VERSION) LUA=$(LUA) BUILD_DIR=$(BUILD_DIR) bench/run

# apt-get install only what is missing; an nginx started by the package is stopped again.
bench-deps:
	@missing=$$(for p in $(BENCH_PKGS); do \
	  dpkg-query -W -f '$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	command -v nginx >/dev/null || missing="$$missing nginx-light"; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	if [ -n "$$(echo $$missing)" ]; then \
	  echo "bench-deps: installing $$(echo $$missing)"; \
	  $(BENCH_SUDO) apt-get update -qq && \
	  $(BENCH_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing || exit 1; \
	  case "$$missing" in *nginx-light*) if command -v systemctl >/dev/null && systemctl is-active -q nginx; then \
	    $(BENCH_SUDO) systemctl disable --now nginx; fi;; esac; \
	fi
