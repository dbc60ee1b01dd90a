# lrhub: learning-record ingestor and store.
#
#   make deps       install the Debian packages needed (root or sudo)
#   make            build build/lrhub
#   make demo       deps, build, ingest the demo exports, print completions
#   make check      deps, build, run every test, then all again under ASan+UBSan,
#                   the unit tests under valgrind, each fuzz target for 10 s
#   make check-fast the tests of the plain build only
#   make SANITIZE=address,undefined   build into build-san with the sanitizers
#   make install PREFIX=/usr/local DESTDIR=

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
CC ?= cc
PKG_CONFIG ?= pkg-config
LIBS_PC = jansson sqlite3 libxml-2.0 libzip libcurl libmicrohttpd libcrypto

ifdef SANITIZE
BUILD ?= build-san
SANFLAGS = -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD ?= build
SANFLAGS =
endif

OPT ?= -O2 -g
WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 -Wvla -Wno-format-nonliteral
CFLAGS ?= $(OPT)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -I. $(WARN) $(SANFLAGS) $(CFLAGS) \
	$(shell $(PKG_CONFIG) --cflags $(LIBS_PC) 2>/dev/null) -MMD -MP
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)
LDLIBS = $(shell $(PKG_CONFIG) --libs $(LIBS_PC) 2>/dev/null) -lpthread -lm

CLI_SRC = ingest/main.c $(wildcard ingest/cli_*.c)
CLI_OBJ = $(CLI_SRC:%.c=$(BUILD)/%.o)
LIB_SRC = $(wildcard lrs/*.c) $(wildcard adapters/*.c) $(filter-out $(CLI_SRC),$(wildcard ingest/*.c))
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/generated/web_assets.o
# The dashboard's files (web/*) built into the binary as a generated C file.
WEB_ASSETS = $(sort $(wildcard web/*))
TEST_SRC = $(wildcard tests/test_*.c)
TEST_BIN = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all deps demo check check-fast tests-build install uninstall clean bench fuzz fuzz-build
all: $(BUILD)/lrhub

deps:
	@sh scripts/deps.sh $(DEPS_ARGS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/generated/web_assets.c: $(WEB_ASSETS) scripts/embed.sh
	@mkdir -p $(dir $@)
	sh scripts/embed.sh $@ $(WEB_ASSETS)

$(BUILD)/generated/web_assets.o: $(BUILD)/generated/web_assets.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/liblrhub.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/lrhub: $(CLI_OBJ) $(BUILD)/liblrhub.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/liblrhub.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# The fuzz targets, replayed over the fixtures as a plain test.
$(BUILD)/tests/test_fuzz: $(BUILD)/tests/test_fuzz.o $(BUILD)/fuzz/targets.o $(BUILD)/liblrhub.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# The fast JSON parser's test compares trees as its fuzz target does.
$(BUILD)/tests/test_jsonfast: $(BUILD)/tests/test_jsonfast.o $(BUILD)/fuzz/targets.o $(BUILD)/liblrhub.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# Fails the Nth allocation of lrhub's own code (and, through their hooks, of
# jansson, SQLite, libxml2 and OpenSSL) during an ingest; see the test.
ALLOC_WRAP = -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup
$(BUILD)/tests/test_allocfail: $(BUILD)/tests/test_allocfail.o $(BUILD)/liblrhub.a
	$(CC) $(ALL_LDFLAGS) $(ALLOC_WRAP) -o $@ $^ $(LDLIBS)

# libFuzzer: make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="adapter zip"] builds
# each target with clang (ASan+UBSan) in build-fuzz and runs it for that long,
# keeping what it finds in fuzz/corpus/<target>/ (see fuzz/run.sh and
# docs/security.md). make check runs each for FUZZ_CHECK_SECONDS.
FUZZ_TARGETS = xapi jsonstream csv adapter manifest zip query multipart jsonfast
FUZZ_SECONDS ?= 60
FUZZ_CHECK_SECONDS ?= 10
FUZZ_CC ?= clang
FUZZ_BUILD_ARGS = BUILD=build-fuzz CC=$(FUZZ_CC) SANITIZE=fuzzer-no-link,address,undefined OPT="-O1 -g"
fuzz: DEPS_ARGS = --test
fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZ_BUILD_ARGS) fuzz-build
	@sh fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_TARGETS:%=$(BUILD)/fuzz_%)

$(BUILD)/fuzz_%: $(BUILD)/fuzz/libfuzzer_%.o $(BUILD)/fuzz/targets.o $(BUILD)/liblrhub.a
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

demo: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/demo.sh $(BUILD)/lrhub

# The whole suite, and the whole suite again built with ASan and UBSan; the
# unit tests under valgrind's memcheck; each libFuzzer target for
# FUZZ_CHECK_SECONDS (docs/security.md has the time budget). Built with -j2
# and run in two lanes, one per core (tests/check.sh).
check: DEPS_ARGS = --test
check: deps
	@$(MAKE) --no-print-directory -j2 BUILD=build SANITIZE= tests-build
	@$(MAKE) --no-print-directory -j2 BUILD=build-san SANITIZE=address,undefined OPT="-O1 -g" tests-build
	@$(MAKE) --no-print-directory -j2 $(FUZZ_BUILD_ARGS) fuzz-build
	@FUZZ_SECONDS=$(FUZZ_CHECK_SECONDS) sh tests/check.sh 'build-san build-fuzz' '--valgrind build build'

# Only the plain build's tests (quicker while working).
check-fast: tests-build
	@sh tests/run.sh $(BUILD)

tests-build: $(TEST_BIN) $(BUILD)/lrhub $(BUILD)/gen

# Benchmarks: make bench [N=1000000]. Figures and ratios to a baseline
# measured in the same run; see docs/performance.md.
N ?= 1000000
bench: deps $(BUILD)/lrhub $(BUILD)/gen $(BUILD)/baseline $(BUILD)/httpload
	@sh bench/run.sh $(BUILD) $(N)

$(BUILD)/baseline: bench/baseline.c lrs/store.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -I. -O2 -Wall -Wextra -o $@ $< $(LDLIBS)

$(BUILD)/gen: bench/gen.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -Wall -Wextra -o $@ $<

$(BUILD)/httpload: bench/httpload.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra $(shell $(PKG_CONFIG) --cflags libcurl jansson 2>/dev/null) -o $@ $< $(LDLIBS)

install: $(BUILD)/lrhub
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(BUILD)/lrhub $(DESTDIR)$(BINDIR)/lrhub
	install -m 644 docs/lrhub.1 $(DESTDIR)$(MANDIR)/man1/lrhub.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/lrhub $(DESTDIR)$(MANDIR)/man1/lrhub.1

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ADL's LRS conformance suite against `lrhub serve` (xAPI 1.0.3 and 2.0.0).
# SUITE is a clone of adlnet/lrs-conformance-test-suite with `npm install`
# done in it, kept outside this project. Not part of `check`: it needs node.
.PHONY: conformance
conformance: $(BUILD)/lrhub
	@test -n "$(SUITE)" || { echo "usage: make conformance SUITE=/path/to/lrs-conformance-test-suite"; exit 1; }
	@sh scripts/conformance.sh $(BUILD)/lrhub $(SUITE) $(XAPI_VERSIONS)
