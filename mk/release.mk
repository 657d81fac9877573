# Releasing: the man page.
# Uses VERSION, LUA, BUILD_DIR, DEPS, TEST_STAGES and the `deps` and `build`
# targets of the Makefile.
#
# Stages (each prints "NAME: N passed, M failed"):
#   check-man     man/plexauth.1 renders without a warning; it documents --help

# Debian packages the release stages need; `make test` installs them.
RELEASE_PKGS = man-db groff-base
DEPS        += $(RELEASE_PKGS)
TEST_STAGES += check-man

# apt-get install what is missing of a list, as `deps` does.
release_need = $(MAKE) -s --no-print-directory deps DEPS='$(1)'

.PHONY: release-deps check-man
release-deps:
	@$(call release_need,$(RELEASE_PKGS))

check-man: release-deps build
	@tools/check-man $(VERSION) $(LUA) $(BUILD_DIR)
