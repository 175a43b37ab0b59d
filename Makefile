# qemu-nvme-ns: run-time NVMe namespaces for QEMU, as a patch series.
#
#   make                 build the emulator at build/qemu-system-x86_64
#   make check           build, then run every test; ends with "N passed, N failed"
#   make demo            build, then boot a Linux guest and walk through nvme-cli
#   make bench           print the benchmark tables
#   make refresh-patches turn edits to upstream files in build/qemu into patches/
#   make checkpatch      run QEMU's checkpatch.pl on our files and patches
#   make clean           remove QEMU's build output (keeps the fetched base)
#   make distclean       remove build/ entirely

SHELL := /bin/bash
BUILD := build
QEMU_SRC := $(BUILD)/qemu
QEMU_BUILD := $(QEMU_SRC)/build
EMULATOR := $(BUILD)/qemu-system-x86_64
NINJA_TARGETS := qemu-system-x86_64 tests/qtest/qos-test \
	tests/qtest/nvme-admin-test tests/qtest/nvme-ns-mgmt-test tests/qtest/nvme-zns-state-test \
	tests/qtest/nvme-inflight-test \
	tests/qtest/nvme-ns-bench

.PHONY: all build check check-qtest check-guest demo bench refresh-patches \
	checkpatch clean distclean

all: build

build:
	@./configure
	@ninja -C $(QEMU_BUILD) $(NINJA_TARGETS) | { grep -v '^\[' || true; }; \
	  test $${PIPESTATUS[0]} = 0 || { echo 'make: the QEMU build failed (see above)' >&2; exit 1; }
	@scripts/link-firmware.sh $(QEMU_BUILD)
	@ln -sfn qemu/build/qemu-system-x86_64 $(EMULATOR)

check: build
	@scripts/run-checks.sh all

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

clean:
	rm -rf $(QEMU_BUILD) $(EMULATOR) $(BUILD)/configure.opts

distclean:
	rm -rf $(BUILD)
