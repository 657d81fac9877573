# Memory safety. Uses LUA_VERSION, LUA, LUA_PC, BUILD_DIR, WARN,
# PKG_CFLAGS, PKG_LIBS, CORE_SRC, CORE_HDR and `build` from the Makefile.
# Like `build`, asan makes plexauth.core (csrc/loader.c) and core_impl.so.
# The fault, TLS, hostile-input and secrecy specs are plain specs under spec/.
#
#   make memcheck    the whole busted suite under valgrind memcheck
#   make asan        the suite with the core built with -fsanitize=address,undefined
#   make memcheck-cli  the CLI's specs against the native CLI under valgrind memcheck
#   make fuzz        libFuzzer over csrc/response.c for FUZZ_TIME (60) seconds
#   make fuzz-smoke  the same for 20 seconds (CI)
#   make soak        100 000 calls on one client, then 10 000 as tasks of the poll loop
#                    (with cancelled, closed and dropped calls); Lua heap, RSS and
#                    descriptors must stay flat
#   make secrecy-suite  the whole suite again, checking every error it creates
#                    against every client token (tools/secrecy-helper.lua)
# See tools/memory-check for how memcheck and asan are run and judged.

CI_STAGES += memcheck memcheck-cli asan fuzz-smoke secrecy-suite
CI_DEPS   += memory-deps

MEMORY_PKGS = valgrind gcc libasan8 libubsan1 clang libclang-rt-14-dev \
              liblua5.4-dev lua5.4 lua-cjson lua-busted lua-socket lua-sec openssl

ASAN_CC    = gcc
ASAN_DIR   = build/asan-$(LUA_VERSION)
ASAN_CORE  = $(ASAN_DIR)/plexauth/core_impl.so
ASAN_LOADER = $(ASAN_DIR)/plexauth/core.so
FUZZ_DIR   = build/fuzz
FUZZER     = $(FUZZ_DIR)/response_fuzz
FUZZ_TIME ?= 60
# libFuzzer and lua-cjson's decoder come from Debian; the target links Lua 5.4.
FUZZ_LUA_PC = lua5.4

.PHONY: memory-deps memcheck memcheck-cli asan fuzz fuzz-smoke soak secrecy-suite

# apt-get install only what is missing (as `deps` does).
memory-deps:
	@missing=""; for p in $(MEMORY_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $$missing >/dev/null || exit 1; \
	fi

memcheck: memory-deps
	@$(MAKE) -s --no-print-directory build
	@tools/memory-check memcheck $(LUA) $(BUILD_DIR)

# Each run of the native CLI is a valgrind process of its own (errors and
# leaks change its exit status, which the specs check).
memcheck-cli: memory-deps
	@$(MAKE) -s --no-print-directory build
	@PLEXAUTH_SPEC_SLACK=5 PLEXAUTH_SPEC_CLI="valgrind -q --error-exitcode=99 --leak-check=full \
	  --errors-for-leak-kinds=definite,possible $(CURDIR)/$(CLI_BIN)" \
	  tools/busted-count memcheck-cli $(BUSTED) --filter='bin/plexauth' spec/cli_spec.lua spec/connect_spec.lua

$(ASAN_LOADER): csrc/loader.c csrc/compat.h
	@mkdir -p $(dir $@)
	$(ASAN_CC) $(WARN) -O1 -g -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all \
	  -fno-omit-frame-pointer -fPIC -shared $(PKG_CFLAGS) -o $@ csrc/loader.c -ldl

$(ASAN_CORE): $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(ASAN_CC) $(WARN) -O1 -g -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all \
	  -fno-omit-frame-pointer -fPIC -shared $(PKG_CFLAGS) -o $@ $(CORE_SRC) $(PKG_LIBS)

asan: memory-deps
	@$(MAKE) -s --no-print-directory $(ASAN_LOADER) $(ASAN_CORE)
	@tools/memory-check asan $(LUA) $(ASAN_DIR)

$(FUZZER): spec/fuzz/response_fuzz.c csrc/response.c csrc/response.h csrc/compat.h
	@mkdir -p $(dir $@)
	clang -std=c99 -Wall -Wextra -Wpedantic $(if $(WERROR),-Werror) -O1 -g \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  -fno-omit-frame-pointer -Icsrc $$(pkg-config --cflags $(FUZZ_LUA_PC)) \
	  -o $@ spec/fuzz/response_fuzz.c csrc/response.c $$(pkg-config --libs $(FUZZ_LUA_PC))

# New inputs go to a scratch corpus; spec/fuzz/corpus is only read.
# Prints "fuzz: 1 passed, 0 failed" when no crash was found in the time.
fuzz: memory-deps
	@$(MAKE) -s --no-print-directory $(FUZZER)
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/crashes
	@if $(FUZZER) -max_total_time=$(FUZZ_TIME) -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/crashes/ \
	    $(FUZZ_DIR)/corpus spec/fuzz/corpus > $(FUZZ_DIR)/fuzz.log 2>&1; then \
	  grep -E '^stat::number_of_executed_units|^Done' $(FUZZ_DIR)/fuzz.log; \
	  echo "fuzz: 1 passed, 0 failed"; \
	else \
	  tail -n 60 $(FUZZ_DIR)/fuzz.log; ls -l $(FUZZ_DIR)/crashes; \
	  echo "fuzz: 0 passed, 1 failed"; exit 1; \
	fi

fuzz-smoke:
	@$(MAKE) -s --no-print-directory fuzz FUZZ_TIME=20

soak: build
	@$(LUA_ENV) LUA_PATH='lua/?.lua;lua/?/init.lua;./?.lua;;' $(LUA) tools/soak.lua 100000
	@$(LUA_ENV) LUA_PATH='lua/?.lua;lua/?/init.lua;./?.lua;;' $(LUA) tools/soak.lua 10000 loop

# busted runs under $(LUA) directly: its --lua re-run would drop --helper's path quoting.
secrecy-suite: build
	@tools/busted-count secrecy-suite $(LUA) $$(command -v busted) --lpath='lua/?.lua' \
	  --lpath='lua/?/init.lua' --cpath='$(BUILD_DIR)/?.so' --helper=tools/secrecy-helper.lua spec
