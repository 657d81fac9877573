# The non-blocking mode's hosts. Uses DEPS, TEST_STAGES and `build` from the
# Makefile. poll, luv and cqueues run inside the busted suite
# (spec/loops_spec.lua); copas (Lua 5.2), headless Neovim (LuaJIT) and mpv
# run the same cases in processes of their own:
#
#   make check-hosts     tools/check-hosts: copas, Neovim and mpv side by side

HOST_PKGS = lua-luv lua-cqueues lua-copas neovim mpv lua5.2 liblua5.2-dev \
            luajit libluajit-5.1-dev
DEPS        += $(HOST_PKGS)
TEST_STAGES += check-hosts

.PHONY: check-hosts
check-hosts: build
	@tools/check-hosts
