# Every Lua (5.1, 5.2, 5.3, 5.4, LuaJIT), static embedding, threads,
# and a real host (mpv). Uses LUA_VERSION, LUA, LUA_PC, BUILD_DIR, WARN,
# CFLAGS, PKG_CFLAGS and the `build` and `check` targets of the Makefile.
#
#   make test-all        the busted suite (and the static host) on 5.1 5.2 5.3 jit
#   make static          $(BUILD_DIR)/libplexauth.a: C core + Lua wrapper, plexauth_preload()
#   make embed-test      examples/embed/host.c linked with it, against the fake PMS
#   make thread-test     tests/threads.c (4 threads x 200 calls) under helgrind
#   make mpv-test        Debian's mpv runs spec/mpv/plexauth_test.lua

COMPAT_VERSIONS ?= 5.1 5.2 5.3 jit
COMPAT_PKGS_5.1  = lua5.1 liblua5.1-0-dev
COMPAT_PKGS_5.2  = lua5.2 liblua5.2-dev
COMPAT_PKGS_5.3  = lua5.3 liblua5.3-dev
COMPAT_PKGS_5.4  = lua5.4 liblua5.4-dev
COMPAT_PKGS_jit  = luajit libluajit-5.1-dev
# lua-cjson, lua-socket, lua-sec and lua-busted cover 5.1 to 5.4 (LuaJIT loads the 5.1 builds).
COMPAT_PKGS_ALL  = lua-cjson lua-socket lua-sec lua-busted libcurl4-openssl-dev pkg-config gcc
DEPS += valgrind

# $(call compat_need,packages): apt-get install those not installed yet.
compat_need = missing=""; for p in $(1); do \
  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
  done; if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
  --no-install-recommends $$missing >/dev/null || exit 1; fi

# ---- every Lua ---------------------------------------------------------------
.PHONY: test-all compat-deps
compat-deps:
	@$(call compat_need,$(COMPAT_PKGS_ALL) valgrind $(foreach v,$(COMPAT_VERSIONS),$(COMPAT_PKGS_$(v))))

# Each version prints its own "VERSION: N passed, M failed", "embed-VERSION: ..."
# and "threads-VERSION: ...". LuaJIT's thread test runs without helgrind: its
# allocator shares an mmap address hint between states (a race inside LuaJIT).
test-all: compat-deps
	@rc=0; for v in $(COMPAT_VERSIONS); do \
	  lua=$$(case $$v in jit) echo luajit;; *) echo lua$$v;; esac); \
	  set -- LUA_VERSION=$$v LUA=$$lua LUA_PC=$$lua; \
	  if ! $(MAKE) -s --no-print-directory "$$@" build static; then \
	    echo "$$v: 0 passed, 1 failed (build)"; rc=1; continue; fi; \
	  $(MAKE) -s --no-print-directory "$$@" check || rc=1; \
	  $(MAKE) -s --no-print-directory "$$@" EMBED_NAME=embed-$$v embed-test || rc=1; \
	  $(MAKE) -s --no-print-directory "$$@" THREAD_NAME=threads-$$v \
	    $$([ $$v = jit ] && echo HELGRIND=) thread-test || rc=1; \
	done; exit $$rc

# ---- static library ----------------------------------------------------------
STATIC_DIR  = $(BUILD_DIR)/static
STATIC_LIB  = $(BUILD_DIR)/libplexauth.a
STATIC_OBJ  = $(STATIC_DIR)/plexauth_core.o $(STATIC_DIR)/transfer.o $(STATIC_DIR)/multi.o $(STATIC_DIR)/sys.o $(STATIC_DIR)/response.o \
              $(STATIC_DIR)/preload.o $(STATIC_DIR)/lua_sources.o
STATIC_HDR  = $(CORE_HDR) csrc/preload.h csrc/plexauth.h
# What a host linking libplexauth.a needs besides it.
HOST_LIBS   = $(shell pkg-config --libs $(LUA_PC) libcurl 2>/dev/null) -lpthread -lm -ldl

.PHONY: static
static: $(STATIC_LIB)

$(STATIC_DIR)/%.o: csrc/%.c $(STATIC_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) -fPIC $(PKG_CFLAGS) -c -o $@ $<

# The wrapper's sources as C byte arrays (tools/lua2c.lua, run by the target Lua).
$(STATIC_DIR)/lua_sources.c: $(LUA_SRC) tools/lua2c.lua
	@mkdir -p $(dir $@)
	$(LUA) tools/lua2c.lua $@ $(sort $(LUA_SRC))

$(STATIC_DIR)/lua_sources.o: $(STATIC_DIR)/lua_sources.c csrc/preload.h
	$(CC) $(WARN) $(CFLAGS) -fPIC -Icsrc -c -o $@ $<

$(STATIC_LIB): $(STATIC_OBJ)
	rm -f $@
	ar rcs $@ $(STATIC_OBJ)

# ---- the native CLI ----------------------------------------------------------------
# $(CLI_BIN): csrc/cli_main.c with the core's objects and the wrapper's bytecode
# (made by $(LUA), so it is the bytecode of the Lua linked), libcurl and the
# Lua library linked as a program links them. `make build` makes it;
# `make install` installs it as bin/plexauth (the script bin/plexauth is
# the rock's, and runs from the source tree).
CLI_OBJ = $(filter-out $(STATIC_DIR)/lua_sources.o,$(STATIC_OBJ)) $(STATIC_DIR)/lua_bytecode.o \
          $(STATIC_DIR)/cli_main.o

.PHONY: cli
cli: $(CLI_BIN)
build: $(CLI_BIN)

$(STATIC_DIR)/lua_bytecode.c: $(LUA_SRC) tools/lua2c.lua
	@mkdir -p $(dir $@)
	$(LUA) tools/lua2c.lua --bytecode $@ $(sort $(LUA_SRC))

$(STATIC_DIR)/lua_bytecode.o: $(STATIC_DIR)/lua_bytecode.c csrc/preload.h
	$(CC) $(WARN) $(CFLAGS) -fPIC -Icsrc -c -o $@ $<

$(CLI_BIN): $(CLI_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(HOST_LIBS) $(LDFLAGS)

# The CLI's specs (cli_spec, and connect_spec's CLI part) against the native program.
.PHONY: cli-native
cli-native: $(CLI_BIN)
	@PLEXAUTH_SPEC_CLI=$(CURDIR)/$(CLI_BIN) tools/busted-count cli-native $(BUSTED) \
	  --filter='bin/plexauth' spec/cli_spec.lua spec/connect_spec.lua

# ---- static host ---------------------------------------------------------------
EMBED_HOST  = $(BUILD_DIR)/embed-host
EMBED_NAME ?= embed

.PHONY: embed-test
$(EMBED_HOST): examples/embed/host.c $(STATIC_HDR) $(STATIC_LIB)
	$(CC) $(WARN) $(CFLAGS) $(PKG_CFLAGS) -Icsrc -o $@ $< $(STATIC_LIB) $(HOST_LIBS) $(LDFLAGS)

# Runs the host from an empty directory with no Lua path to plexauth: the
# modules can only come from the library.
embed-test: $(EMBED_HOST)
	@host=$$(pwd)/$(EMBED_HOST); dir=$$(mktemp -d); \
	out=$$(cd "$$dir" && LUA_PATH=';;' LUA_CPATH=';;' $(CURDIR)/tests/with-fake-pms "$$host"); rc=$$?; \
	rmdir "$$dir"; \
	if [ $$rc -eq 0 ] && printf '%s\n' "$$out" | grep -Eqx 'transient-[0-9]+-[0-9a-f]{8}'; then \
	  echo "$(EMBED_NAME): 1 passed, 0 failed"; \
	else echo "$(EMBED_NAME): host exited $$rc, printed: $$out"; echo "$(EMBED_NAME): 0 passed, 1 failed"; exit 1; fi

# ---- threads -------------------------------------------------------------------
THREAD_TEST = $(BUILD_DIR)/thread-test
THREAD_NAME ?= threads
HELGRIND    = valgrind --tool=helgrind --error-exitcode=99 -q --suppressions=tests/helgrind.supp

.PHONY: thread-test
$(THREAD_TEST): tests/threads.c $(STATIC_HDR) $(STATIC_LIB)
	$(CC) $(WARN) $(CFLAGS) -pthread $(PKG_CFLAGS) -Icsrc -o $@ $< $(STATIC_LIB) $(HOST_LIBS) $(LDFLAGS)

thread-test: $(THREAD_TEST)
	@tests/with-fake-pms $(HELGRIND) $(THREAD_TEST); rc=$$?; \
	if [ $$rc -eq 0 ]; then echo "$(THREAD_NAME): 1 passed, 0 failed"; \
	else echo "$(THREAD_NAME): exited $$rc"; echo "$(THREAD_NAME): 0 passed, 1 failed"; exit 1; fi

# ---- a real host: mpv ------------------------------------------------------------
.PHONY: mpv-test
mpv-test:
	@$(call compat_need,mpv lua5.2 liblua5.2-dev lua-cjson libcurl4-openssl-dev pkg-config gcc)
	@spec/mpv/run

TEST_STAGES += embed-test thread-test cli-native
CI_STAGES   += test-all mpv-test
CI_DEPS     += compat-deps
