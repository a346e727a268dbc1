# triage: one non-recursive Makefile (GNU make).
#
#   make                 build $(BUILD)/triage and, when corpus/fr is there, $(BUILD)/fr.model
#   make check           every test: unit tests (also under ASan+UBSan), data and
#                        integration tests; ends with "N passed, N failed"
#   make demo            a throwaway Dovecot with sample mail, one `triage run --once`
#   make bench           the benchmarks under bench/ against their peers
#   make fuzz            the libFuzzer targets, FUZZ_TIME seconds each
#   make install         PREFIX (/usr/local), DESTDIR, SYSCONFDIR (/etc)
#   make BUILD=DIR SANITIZE=address,undefined   a sanitized build in DIR
#
# Missing Debian packages are installed by scripts/deps.sh (as root); NODEPS=1 skips it.

BUILD      ?= build
SANITIZE   ?=
FUZZ       ?=
PREFIX     ?= /usr/local
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(if $(filter /usr/local,$(PREFIX)),/etc,$(PREFIX)/etc))
DATADIR    ?= $(PREFIX)/share/triage
MANDIR     ?= $(PREFIX)/share/man
LOCALEDIR  ?= $(PREFIX)/share/locale
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DESTDIR    ?=
FUZZ_TIME  ?= 60
CC         ?= cc
VERSION    := 0.1.0

SHARED     ?= $(abspath ../shared)

# Warnings are errors; hardening as Debian's dpkg-buildflags with hardening=+all.
WARN     := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wpointer-arith -Wstrict-prototypes \
	    -Wmissing-prototypes -Wvla -Wno-unused-parameter
HARDEN   := -fstack-protector-strong -fstack-clash-protection -fcf-protection \
	    -Werror=format-security -fPIE
OPT      := -O2 -g
FORTIFY  := -D_FORTIFY_SOURCE=2
ifneq ($(SANITIZE),)
OPT      := -O1 -g -fno-omit-frame-pointer -fsanitize=$(SANITIZE) -fno-sanitize-recover=all
FORTIFY  :=
endif
ifneq ($(FUZZ),)
OPT      += -fsanitize=fuzzer-no-link -DTRIAGE_FUZZ=1
endif

PKGS     := libetpan libcurl gnutls libpcre2-8 yaml-0.1 sqlite3 libxml-2.0 libutf8proc zlib liburing
# What pkg-config says is read at its first use, in a recipe, not when this file
# is parsed: on a fresh machine `make` installs the packages (deps, which every
# object waits for) after parsing, and flags read before would be empty.
# once NAME,VALUE: NAME's value, computed the first time it is used.
once = $(eval $(1) := $(subst $$,$$$$,$(2)))$($(1))
# libetpan's .pc links with Debian's no-pie spec file: drop it, triage is PIE.
PKG_CFLAGS = $(call once,PKG_CFLAGS,$(shell pkg-config --cflags $(PKGS) 2>/dev/null))
# libcurl and libxml2 are not linked: `run` opens libcurl when it sets up SMTP
# (daemon/curl_dl.c), and libxml2 is opened at the first HTML part
# (classifier/html.c), each by the name of the library its headers are for.
PKG_LIBS   = $(call once,PKG_LIBS,$(filter-out -specs=% -lcurl -lxml2,$(shell pkg-config --libs $(PKGS) 2>/dev/null)))
soname = $(shell objdump -p $$(pkg-config --variable=libdir $(1) 2>/dev/null)/$(2) 2>/dev/null | awk '$$1 == "SONAME" { print $$2 }')
CURL_SONAME = $(call once,CURL_SONAME,$(call soname,libcurl,libcurl.so))
XML_SONAME  = $(call once,XML_SONAME,$(call soname,libxml-2.0,libxml2.so))

CPPFLAGS += -I. -D_GNU_SOURCE $(FORTIFY) -DTRIAGE_VERSION='"$(VERSION)"' \
	    -DTRIAGE_DATADIR='"$(DATADIR)"' -DTRIAGE_SYSCONFDIR='"$(SYSCONFDIR)"' \
	    -DTRIAGE_LOCALEDIR='"$(LOCALEDIR)"' \
	    $(if $(CURL_SONAME),-DTRIAGE_CURL_SONAME='"$(CURL_SONAME)"') \
	    $(if $(XML_SONAME),-DTRIAGE_XML_SONAME='"$(XML_SONAME)"')
CFLAGS   += -std=c11 $(OPT) $(WARN) $(HARDEN) $(PKG_CFLAGS) -pthread -MMD -MP
LDFLAGS  += -pie -Wl,-z,relro -Wl,-z,now -Wl,--as-needed -pthread
ifneq ($(SANITIZE),)
LDFLAGS  += -fsanitize=$(SANITIZE)
endif
LDLIBS   += $(PKG_LIBS) -lstemmer -lm

# ---- sources: every room is a static library, found by wildcard -------------
COMMON_SRC := $(sort $(wildcard common/*.c))
CLF_SRC    := $(sort $(wildcard classifier/*.c))
CFG_SRC    := $(sort $(wildcard config/*.c))
DMN_SRC    := $(sort $(filter-out daemon/main.c,$(wildcard daemon/*.c)))
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC   := $(sort $(wildcard tests/fuzz/fuzz_*.c))
ITEST_SRC  := $(sort $(wildcard tests/integration/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIB_COMMON := $(BUILD)/libcommon.a
LIB_CLF    := $(BUILD)/libclassifier.a
LIB_CFG    := $(BUILD)/libconfig.a
LIB_DMN    := $(BUILD)/libdaemon.a
LIBS       := $(LIB_DMN) $(LIB_CFG) $(LIB_CLF) $(LIB_COMMON)

TRIAGE     := $(BUILD)/triage
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
FUZZ_BINS  := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
ITEST_BINS := $(patsubst tests/integration/%.c,$(BUILD)/itest/%,$(ITEST_SRC))

CORPUS     := corpus/fr
CORPUS_FILES := $(shell find $(CORPUS) -mindepth 2 -type f 2>/dev/null)
MODEL      := $(if $(CORPUS_FILES),$(BUILD)/fr.model)
MO         := $(if $(wildcard po/fr.po),$(BUILD)/locale/fr/LC_MESSAGES/triage.mo)

.PHONY: all deps deps-check deps-bench unit san check bench fuzz demo install clean \
	fuzz-bins test-%
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:

all: deps $(TRIAGE) $(MODEL) $(MO)

deps:
ifeq ($(NODEPS),)
	@scripts/deps.sh build
endif
deps-check:
ifeq ($(NODEPS),)
	@scripts/deps.sh check
endif
deps-bench:
ifeq ($(NODEPS),)
	@scripts/deps.sh bench
endif

# Objects are ordered after deps so that headers of missing packages are installed first.
$(BUILD)/obj/%.o: %.c | $(if $(NODEPS),,deps)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB_COMMON): $(call obj,$(COMMON_SRC))
$(LIB_CLF): $(call obj,$(CLF_SRC))
$(LIB_CFG): $(call obj,$(CFG_SRC))
$(LIB_DMN): $(call obj,$(DMN_SRC))
$(LIBS):
	@mkdir -p $(dir $@)
	@rm -f $@
	$(AR) rcs $@ $^

$(TRIAGE): $(call obj,daemon/main.c) $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

$(MODEL): $(TRIAGE) $(CORPUS_FILES)
	$(TRIAGE) train --corpus $(CORPUS) --out $@ --quiet

$(BUILD)/locale/fr/LC_MESSAGES/triage.mo: po/fr.po
	@mkdir -p $(dir $@)
	msgfmt --check -o $@ $<

# ---- tests ------------------------------------------------------------------
# A unit test may #include the .c it tests (to reach static functions, as in
# chrony): the archive member it replaces is then not linked.
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS) -lcmocka

# Helper programs of the integration tests (tests/integration/NAME.c ->
# $(BUILD)/itest/NAME), linked like the unit tests but without cmocka; `unit`
# builds them so that `make check` has them.
$(BUILD)/itest/%: $(BUILD)/obj/tests/integration/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

unit: $(UNIT_BINS) $(ITEST_BINS) $(TRIAGE)

# One unit test by name: make test-zones
test-%: $(BUILD)/tests/test_%
	$<

# The same unit tests and binary under AddressSanitizer + UndefinedBehaviorSanitizer.
san:
	$(MAKE) --no-print-directory BUILD=$(BUILD)/san SANITIZE=address,undefined NODEPS=1 unit

check: deps-check
	$(MAKE) --no-print-directory NODEPS=1 all unit
	$(MAKE) --no-print-directory san
	$(MAKE) --no-print-directory BUILD=$(BUILD)/fuzz-build CC=clang FUZZ=1 \
		SANITIZE=address,undefined NODEPS=1 fuzz-bins
	BUILD=$(abspath $(BUILD)) SHARED=$(SHARED) tests/run.sh \
		$(UNIT_BINS) $(patsubst $(BUILD)/%,$(BUILD)/san/%,$(UNIT_BINS)) \
		$(sort $(wildcard tests/integration/t[0-9]*.sh))

bench: deps-bench
	$(MAKE) --no-print-directory NODEPS=1 all
	BUILD=$(abspath $(BUILD)) SHARED=$(SHARED) bench/run.sh

# ---- fuzzing (clang, libFuzzer) -----------------------------------------------
$(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $< $(LIBS) $(LDLIBS)

fuzz-bins: $(FUZZ_BINS)

fuzz: deps-check
	$(MAKE) --no-print-directory BUILD=$(BUILD)/fuzz-build CC=clang FUZZ=1 \
		SANITIZE=address,undefined NODEPS=1 fuzz-bins
	BUILD=$(abspath $(BUILD)/fuzz-build) FUZZ_TIME=$(FUZZ_TIME) tests/fuzz/run.sh

# ---- demo ---------------------------------------------------------------------
demo: deps-check
	$(MAKE) --no-print-directory NODEPS=1 all
	BUILD=$(abspath $(BUILD)) demo/run.sh

# ---- install ------------------------------------------------------------------
# Unit files installed as they are (the *.in ones are generated).
UNITS  := $(wildcard systemd/*.timer)
DEVSET := tests/data/fr-dev
# install_tree SRC,DEST: a copy of the folder SRC as DEST, files 644, folders 755.
install_tree = $(if $(wildcard $(1)),rm -rf $(2) && install -d $(dir $(2)) && \
	cp -R $(1) $(2) && find $(2) -type d -exec chmod 755 {} + && \
	find $(2) -type f -exec chmod 644 {} +)

install: $(TRIAGE) $(MODEL) $(MO)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(DATADIR) $(DESTDIR)$(SYSCONFDIR)/triage
	install -m 755 $(TRIAGE) $(DESTDIR)$(PREFIX)/bin/triage
	$(if $(MODEL),install -m 644 $(MODEL) $(DESTDIR)$(DATADIR)/fr.model)
	$(if $(wildcard config/triage.yaml),install -m 644 config/triage.yaml $(DESTDIR)$(SYSCONFDIR)/triage/triage.yaml.example)
	$(if $(MO),install -d $(DESTDIR)$(LOCALEDIR)/fr/LC_MESSAGES && install -m 644 $(MO) $(DESTDIR)$(LOCALEDIR)/fr/LC_MESSAGES/triage.mo)
	$(if $(wildcard docs/*.8),install -d $(DESTDIR)$(MANDIR)/man8 && install -m 644 $(wildcard docs/*.8) $(DESTDIR)$(MANDIR)/man8/)
	$(if $(wildcard docs/*.5),install -d $(DESTDIR)$(MANDIR)/man5 && install -m 644 $(wildcard docs/*.5) $(DESTDIR)$(MANDIR)/man5/)
	install -d $(DESTDIR)$(UNITDIR)
	for u in $(notdir $(basename $(wildcard systemd/*.in))); do \
		sed 's|@BINDIR@|$(PREFIX)/bin|g' systemd/$$u.in >$(DESTDIR)$(UNITDIR)/$$u || exit 1; \
		chmod 644 $(DESTDIR)$(UNITDIR)/$$u; done
	$(if $(UNITS),install -m 644 $(UNITS) $(DESTDIR)$(UNITDIR)/)
	@# What `triage retrain` trains on and measures with: the shipped corpus and
	@# the dev set, one folder per category (replaced whole, never merged).
	$(call install_tree,$(CORPUS),$(DESTDIR)$(DATADIR)/corpus)
	$(call install_tree,$(DEVSET),$(DESTDIR)$(DATADIR)/fr-dev)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
