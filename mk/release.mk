# Releasing: the rockspecs and the man page.
# Uses VERSION, LUA, BUILD_DIR, DEPS, TEST_STAGES and the `deps` and `build`
# targets of the Makefile.
#
#   make rockspec      plexauth-$(VERSION)-1.rockspec and plexauth-scm-1.rockspec,
#                      their module lists made from lua/plexauth/**/*.lua
#
# Stages (each prints "NAME: N passed, M failed"):
#   check-man     man/plexauth.1 renders without a warning; it documents --help

ROCKSPEC     = plexauth-$(VERSION)-1.rockspec
SCM_ROCKSPEC = plexauth-scm-1.rockspec
# Debian packages the release stages need; `make test` installs them.
RELEASE_PKGS = man-db groff-base
DEPS        += $(RELEASE_PKGS)
TEST_STAGES += check-man

# apt-get install what is missing of a list, as `deps` does.
release_need = $(MAKE) -s --no-print-directory deps DEPS='$(1)'

.PHONY: rockspec release-deps check-man
release-deps:
	@$(call release_need,$(RELEASE_PKGS))

rockspec:
	@$(LUA) tools/rockspec.lua write $(VERSION) > $(ROCKSPEC).tmp && mv $(ROCKSPEC).tmp $(ROCKSPEC)
	@$(LUA) tools/rockspec.lua write scm > $(SCM_ROCKSPEC).tmp && mv $(SCM_ROCKSPEC).tmp $(SCM_ROCKSPEC)

check-man: release-deps build
	@tools/check-man $(VERSION) $(LUA) $(BUILD_DIR)
