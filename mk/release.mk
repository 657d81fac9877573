# Releasing: the rockspecs, the source rock, the man page and the reference.
# Uses VERSION, LUA, LUA_ABI, BUILD_DIR, DEPS, TEST_STAGES, CI_STAGES and the
# `deps` and `build` targets of the Makefile.
#
#   make rockspec      plexauth-$(VERSION)-1.rockspec and plexauth-scm-1.rockspec,
#                      their module lists made from lua/plexauth/**/*.lua
#   make dist          the rockspecs, then dist/plexauth-$(VERSION).tar.gz and
#                      dist/plexauth-$(VERSION)-1.src.rock (tools/dist)
#   make doc           the LDoc reference (config.ld) in build/doc
#
# Stages (each prints "NAME: N passed, M failed"):
#   check-dist    the committed rockspecs list every module; the src.rock installs
#                 offline into a scratch tree; plexauth and its CLI run from there
#   check-man     man/plexauth.1 renders without a warning; it documents --help
#   check-readme  README.md's "Installing" commands, verbatim, in a scratch HOME
#   check-doc     `ldoc` exits 0 with no warning, one page per module (CI only:
#                 warnings in the sources' doc comments are still to be fixed)

ROCKSPEC     = plexauth-$(VERSION)-1.rockspec
SCM_ROCKSPEC = plexauth-scm-1.rockspec
DIST_DIR     = dist
# config.ld names the same directory.
DOC_DIR      = build/doc
# Debian packages `make dist` needs, and those the release stages need too;
# `make test` installs them.
DIST_PKGS    = zip gzip tar
RELEASE_PKGS = $(DIST_PKGS) git unzip luarocks man-db groff-base
# ...and `make doc`: LDoc runs on Lua 5.2 or 5.1 (lua-any), lua-discount renders Markdown.
DOC_PKGS     = lua-ldoc lua-discount lua5.1
DEPS        += $(RELEASE_PKGS)
TEST_STAGES += check-dist check-man check-readme
CI_STAGES   += check-doc
CI_DEPS     += doc-deps

# apt-get install what is missing of a list, as `deps` does.
release_need = $(MAKE) -s --no-print-directory deps DEPS='$(1)'

.PHONY: rockspec dist doc dist-deps release-deps doc-deps check-dist check-man check-readme check-doc
dist-deps:
	@$(call release_need,$(DIST_PKGS))

release-deps:
	@$(call release_need,$(RELEASE_PKGS))

doc-deps:
	@$(call release_need,$(DOC_PKGS))

rockspec:
	@$(LUA) tools/rockspec.lua write $(VERSION) > $(ROCKSPEC).tmp && mv $(ROCKSPEC).tmp $(ROCKSPEC)
	@$(LUA) tools/rockspec.lua write scm > $(SCM_ROCKSPEC).tmp && mv $(SCM_ROCKSPEC).tmp $(SCM_ROCKSPEC)

dist: dist-deps rockspec
	@tools/dist $(VERSION) $(ROCKSPEC) $(DIST_DIR)

# Packs the committed rockspec (not one written anew) and installs it.
check-dist: release-deps
	@tools/check-dist $(VERSION) $(LUA_ABI)

check-man: release-deps build
	@tools/check-man $(VERSION) $(LUA) $(BUILD_DIR)

check-readme: release-deps
	@README_DEPS='$(sort $(DEPS))' tools/check-readme

# Writes what it can and prints LDoc's warnings; check-doc fails on any.
doc: doc-deps
	@rm -rf $(DOC_DIR)
	@tools/doc-src build/doc-src
	ldoc .

check-doc: doc-deps
	@tools/check-doc $(DOC_DIR)
