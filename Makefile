# plexauth: build, test, demo, install.
# `make demo` and `make test` install missing Debian packages first (deps).

VERSION      = 0.2.0
LUA_VERSION ?= 5.4
# LUA_VERSION=jit builds for LuaJIT 2.1 (Lua 5.1 ABI).
LUA_ABI      = $(if $(filter jit,$(LUA_VERSION)),5.1,$(LUA_VERSION))
LUA         ?= $(if $(filter jit,$(LUA_VERSION)),luajit,lua$(LUA_VERSION))
LUA_PC      ?= $(if $(filter jit,$(LUA_VERSION)),luajit,lua$(LUA_VERSION))
BUILD_DIR    = build/$(LUA_VERSION)
# plexauth.core is a loader (csrc/loader.c) that opens the C core,
# core_impl.so beside it, with lazy binding (see loader.c).
CORE         = $(BUILD_DIR)/plexauth/core.so
CORE_IMPL    = $(BUILD_DIR)/plexauth/core_impl.so
# The CLI as one program (csrc/cli_main.c, mk/compat.mk).
CLI_BIN      = $(BUILD_DIR)/bin/plexauth
PREFIX      ?= /usr/local
LUA_LIBDIR  ?= $(PREFIX)/lib/lua/$(LUA_ABI)
LUA_SHAREDIR?= $(PREFIX)/share/lua/$(LUA_ABI)
MANDIR      ?= $(PREFIX)/share/man

CC          ?= cc
CFLAGS      ?= -O2 -g
WARN         = -std=c99 -Wall -Wextra -Wpedantic $(if $(WERROR),-Werror)
PKG_CFLAGS   = $(shell pkg-config --cflags $(LUA_PC) libcurl 2>/dev/null)
PKG_LIBS     = $(shell pkg-config --libs libcurl 2>/dev/null)
CORE_SRC     = csrc/plexauth_core.c csrc/transfer.c csrc/multi.c csrc/sys.c csrc/response.c
CORE_HDR     = csrc/compat.h csrc/response.h csrc/transfer.h
LUA_SRC      = $(shell find lua/plexauth -name '*.lua' | LC_ALL=C sort)
# The modules precompiled for the CLI's start-up (tools/bytecode.lua).
BYTECODE     = $(BUILD_DIR)/.bytecode

# Debian packages the build, the tests and the demo need.
DEPS = lua5.4 liblua5.4-dev libcurl4-openssl-dev lua-cjson lua-busted luarocks \
       lua-socket lua-sec openssl pkg-config gcc make ca-certificates iproute2 \
       lua-check cppcheck

# Stages `make test` runs; each prints "NAME: N passed, M failed".
TEST_STAGES = lint check check-rock check-install
# Extra stages CI runs (FULL=1), and the targets that install their packages.
CI_STAGES   =
CI_DEPS     =

BUSTED = busted --lua=$(LUA) --lpath='lua/?.lua' --lpath='lua/?/init.lua' \
         --cpath='$(BUILD_DIR)/?.so'
LUA_ENV = LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='$(BUILD_DIR)/?.so;;'

.PHONY: all build deps test lint check check-rock check-install demo install clean
all: build
build: $(CORE) $(CORE_IMPL) $(BYTECODE)

$(CORE): csrc/loader.c csrc/compat.h
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) -fPIC -shared -fvisibility=hidden $(PKG_CFLAGS) -o $@ csrc/loader.c -ldl $(LDFLAGS)

$(CORE_IMPL): $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) -fPIC -shared -fvisibility=hidden $(PKG_CFLAGS) -o $@ $(CORE_SRC) $(PKG_LIBS) $(LDFLAGS)

$(BYTECODE): $(LUA_SRC) tools/bytecode.lua
	@mkdir -p $(BUILD_DIR)
	@$(LUA) tools/bytecode.lua $(BUILD_DIR) $(LUA_SRC) && touch $@

deps:
	@missing=""; for p in $(DEPS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# Packages first (with the network); then every stage in a network
# namespace with loopback only (tools/offline). CI (FULL=1) installs what
# its extra stages need beforehand too (CI_DEPS).
test: deps
	@$(if $(FULL),$(MAKE) -s --no-print-directory $(CI_DEPS))
	@$(MAKE) -s --no-print-directory build
	@tools/offline tools/run-tests $(TEST_STAGES) $(if $(FULL),$(CI_STAGES))

# luacheck (no globals, no unused code; .luacheckrc) and cppcheck on the core.
lint:
	@ok=0; bad=0; \
	if luacheck -q --no-color lua bin/plexauth examples spec tools/*.lua bench/*.lua; then ok=$$((ok+1)); else bad=$$((bad+1)); fi; \
	if cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability --std=c99 \
	     -I csrc csrc/*.c; then ok=$$((ok+1)); else bad=$$((bad+1)); fi; \
	echo "lint: $$ok passed, $$bad failed"; [ $$bad -eq 0 ]

# The busted suite on $(LUA_VERSION).
check: build
	@tools/busted-count $(LUA_VERSION) $(BUSTED) spec

# Install with LuaRocks from the rockspec into a scratch tree, then require it.
check-rock:
	@tools/check-rock $(LUA_VERSION)

demo: deps
	@$(MAKE) -s --no-print-directory build
	@if [ -n "$$PLEX_URL" ] && [ -n "$$PLEX_TOKEN" ]; then $(LUA_ENV) $(LUA) examples/demo.lua; \
	else $(LUA_ENV) tools/offline $(LUA) examples/demo.lua; fi

install: build
	install -d $(DESTDIR)$(LUA_LIBDIR)/plexauth $(DESTDIR)$(LUA_SHAREDIR)/plexauth $(DESTDIR)$(PREFIX)/bin \
	  $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(CORE) $(DESTDIR)$(LUA_LIBDIR)/plexauth/core.so
	install -m 755 $(CORE_IMPL) $(DESTDIR)$(LUA_LIBDIR)/plexauth/core_impl.so
	for f in $$(cd lua && find plexauth -name '*.lua'); do \
	  install -D -m 644 lua/$$f $(DESTDIR)$(LUA_SHAREDIR)/$$f || exit 1; done
	install -m 644 man/plexauth.1 $(DESTDIR)$(MANDIR)/man1/plexauth.1
	install -m 755 $(CLI_BIN) $(DESTDIR)$(PREFIX)/bin/plexauth

# Install into a scratch DESTDIR, then use the module and the CLI from there.
check-install:
	@tools/check-install $(LUA)

clean:
	rm -rf build

-include mk/*.mk
