# qemu-nvme-ns: run-time NVMe namespaces for QEMU, as a patch series.
#
#   make                 build the emulator at build/qemu-system-x86_64
#   make check           build, then run every test; ends with "N passed, N failed"
#   make check-san       the qtests against QEMU built with ASan and UBSan
#   make check-base2     the qtests on the second QEMU base (scripts/base.conf)
#   make fuzz            random command sequences: SECONDS=N, SEED=S
#   make demo            build, then boot a Linux guest and walk through nvme-cli
#   make bench           print the benchmark tables
#   make refresh-patches turn edits to upstream files in build/qemu into patches/
#   make checkpatch      run QEMU's checkpatch.pl on our files and patches
#   make format-patch    write the series with our files and a cover letter
#                        to build/series/, for git send-email
#   make check-series    build every prefix of the series (default base)
#   make clean           remove QEMU's build output (keeps the fetched base)
#   make distclean       remove build/ entirely

SHELL := /bin/bash
BUILD := build
QEMU_SRC := $(BUILD)/qemu
QEMU_BUILD := $(QEMU_SRC)/build
EMULATOR := $(BUILD)/qemu-system-x86_64
SAN_BUILD := $(QEMU_SRC)/build-san
OUR_QTESTS := $(shell grep -v '^\#' scripts/qtests.list)
QTEST_TARGETS := tests/qtest/qos-test $(addprefix tests/qtest/,$(OUR_QTESTS))
NINJA_TARGETS := qemu-system-x86_64 $(QTEST_TARGETS) tests/qtest/nvme-ns-bench
# The second base: the newest QEMU release series the series also applies to
BASE2 := $(shell . scripts/base.conf && set -- $$BASES && echo $$2)
BASE2_BUILD := $(BUILD)/qemu-$(BASE2)/build

.PHONY: all build build-san build-base2 check check-san check-base2 fuzz check-qtest check-guest \
	demo bench refresh-patches checkpatch format-patch check-series clean distclean

all: build

build:
	@./configure
	@ninja -C $(QEMU_BUILD) $(NINJA_TARGETS) | { grep -v '^\[' || true; }; \
	  test $${PIPESTATUS[0]} = 0 || { echo 'make: the QEMU build failed (see above)' >&2; exit 1; }
	@scripts/link-firmware.sh $(QEMU_BUILD)
	@ln -sfn qemu/build/qemu-system-x86_64 $(EMULATOR)

# QEMU and the qtests again with AddressSanitizer and UBSan
build-san: build
	@./configure --sanitizers
	@ninja -C $(SAN_BUILD) qemu-system-x86_64 $(QTEST_TARGETS) | { grep -v '^\[' || true; }; \
	  test $${PIPESTATUS[0]} = 0 || { echo 'make: the sanitizer build failed (see above)' >&2; exit 1; }
	@scripts/link-firmware.sh $(SAN_BUILD)

# QEMU and the qtests on the second base; skipped with a warning when its
# source has left the registry (./configure exits with 3)
build-base2:
	@rm -f $(BUILD)/base2.skipped; rc=0; ./configure --base=$(BASE2) || rc=$$?; \
	  if [ $$rc = 3 ]; then echo "$(BASE2)" > $(BUILD)/base2.skipped; exit 0; fi; \
	  test $$rc = 0 || exit $$rc; \
	  ninja -C $(BASE2_BUILD) qemu-system-x86_64 $(QTEST_TARGETS) | { grep -v '^\[' || true; }; \
	  test $${PIPESTATUS[0]} = 0 || { echo 'make: the build on the second base failed (see above)' >&2; exit 1; }; \
	  scripts/link-firmware.sh $(BASE2_BUILD)

check: build build-san build-base2
	@scripts/run-checks.sh all

check-base2: build-base2
	@scripts/run-checks.sh base2

check-san: build-san
	@scripts/run-checks.sh san

# Random command sequences on the sanitized build: make fuzz SECONDS=N SEED=S
SECONDS ?= 300
fuzz: build-san
	@cd $(SAN_BUILD) && QNVME_SECONDS=$(SECONDS) $(if $(SEED),QNVME_SEED=$(SEED)) \
	  QTEST_QEMU_BINARY=./qemu-system-x86_64 tests/qtest/nvme-random-test --tap

check-qtest: build
	@scripts/run-checks.sh qtest

check-guest: build
	@scripts/run-checks.sh guest

demo: build
	@tests/guest/demo.sh

bench: build
	@scripts/bench.sh

refresh-patches:
	@scripts/refresh-patches.sh . $(BUILD)

checkpatch:
	@scripts/checkpatch.sh . $(BUILD)

format-patch: build
	@scripts/series.sh . $(BUILD) format

check-series: build
	@scripts/series.sh . $(BUILD) check

clean:
	rm -rf $(QEMU_BUILD) $(SAN_BUILD) $(BASE2_BUILD) $(EMULATOR) $(BUILD)/configure*.opts

distclean:
	rm -rf $(BUILD)
