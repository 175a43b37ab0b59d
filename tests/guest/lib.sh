# shellcheck shell=bash
# Library for the host side of the guest end-to-end scenarios (bash).
#
#   . "$(dirname "$0")/../lib.sh"
#   scenario_begin NAME
#   guest_boot boot1 - -device nvme,... <<'EOF'
#   nvme list
#   EOF
#   expect_exit "$WORK/boot1.log" 0
#   scenario_pass
#
# Env: BUILD_DIR        build directory (default <repo>/build)
#      QEMU             emulator (default $BUILD_DIR/qemu-system-x86_64)
#      GUEST_QEMU_ARGS  extra QEMU arguments, split on blanks (e.g. "-L DIR")
#      GUEST_TIMEOUT    seconds a boot may take before it is killed (120)
#      GUEST_MEM        guest memory in MiB (512)
#      GUEST_MACHINE    QEMU machine type (q35)
#      GUEST_APPEND     extra kernel command line (e.g. "loglevel=7" for the
#                       kernel's info messages on the console too)
#      GUEST_SKIP_BUILD=1  do not run build-guest.sh (run.sh did already)
#      GUEST_VERBOSE=1  print each guest's console log after its boot
#      GUEST_QUIET=1    no informational lines (only PASS/FAIL)

GUEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$GUEST_DIR/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$REPO_DIR/build}
QEMU=${QEMU:-$BUILD_DIR/qemu-system-x86_64}
GUEST_CACHE=$BUILD_DIR/guest
SCENARIO=
WORK=
GUEST_VARS=
_SCENARIO_DONE=0

# scenario_fail REASON...: print "FAIL: <scenario>: REASON" and exit 1.
scenario_fail() {
	_SCENARIO_DONE=1
	echo "FAIL: ${SCENARIO:-?}: $*"
	exit 1
}

# scenario_pass: print "PASS: <scenario>" and exit 0.
scenario_pass() {
	_SCENARIO_DONE=1
	echo "PASS: $SCENARIO"
	exit 0
}

# note MSG...: an informational line of the scenario (none if GUEST_QUIET=1).
note() {
	[[ ${GUEST_QUIET:-0} == 1 ]] || echo "  $SCENARIO: $*"
}

_scenario_exit() {
	local rc=$?
	if [[ $_SCENARIO_DONE == 0 ]]; then
		_SCENARIO_DONE=1
		echo "FAIL: ${SCENARIO:-?}: unexpected exit (status $rc) at ${_SCENARIO_WHERE:-?}"
		exit 1
	fi
}

# scenario_begin NAME: set SCENARIO and WORK (BUILD_DIR/guest/work/NAME,
# emptied), make sure the guest kernel and initramfs exist and QEMU is there.
scenario_begin() {
	SCENARIO=$1
	set -E
	trap _scenario_exit EXIT
	trap '_SCENARIO_WHERE="line $LINENO: $BASH_COMMAND"' ERR
	WORK=$GUEST_CACHE/work/$SCENARIO
	rm -rf "$WORK"
	mkdir -p "$WORK"
	if [[ ${GUEST_SKIP_BUILD:-0} != 1 ]]; then
		"$GUEST_DIR/build-guest.sh" "$BUILD_DIR" >"$WORK/build-guest.log" 2>&1 ||
			scenario_fail "guest build failed: $(grep 'error:' "$WORK/build-guest.log" | tail -n 1)"
	fi
	[[ -s $GUEST_CACHE/kernel && -s $GUEST_CACHE/initramfs.img ]] ||
		scenario_fail "no guest kernel/initramfs in $GUEST_CACHE (run tests/guest/build-guest.sh)"
	[[ -x $QEMU ]] || scenario_fail "QEMU not found at $QEMU (set QEMU=path)"
}

# show_tail FILE [N]: the last N (20) lines of FILE, indented, on stderr;
# of a console log, those before the kernel log dumped at the end.
show_tail() {
	local n=${2:-20}
	{
		echo "  --- last $n lines of $1 ---"
		sed '/^GUEST-DMESG-BEGIN$/,$d' "$1" 2>/dev/null | tail -n "$n" | sed 's/^/  | /'
		echo "  ---"
	} >&2
}

# guest_set NAME=VALUE...: define shell variables for the guest scripts of
# the following guest_boot calls (prepended to each script, safely quoted).
guest_set() {
	local a q
	for a in "$@"; do
		[[ $a =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || scenario_fail "guest_set: not NAME=VALUE: $a"
		q=${a#*=}
		GUEST_VARS+="${a%%=*}='${q//\'/\'\\\'\'}'"$'\n'
	done
}

# guest_boot NAME SCRIPT [QEMU ARGS...]: boot the guest once, running the
# shell script SCRIPT (a file, or "-" for standard input, e.g. a quoted here
# document) inside it, after the guest_set variables, and return when it has
# powered off.  The script as run is $WORK/NAME.sh, the console log
# $WORK/NAME.log (also in GUEST_LOG), QEMU's own output $WORK/NAME.qemu.log,
# its command line $WORK/NAME.cmd.  Fails the scenario if QEMU fails, the
# boot times out or the guest init did not report the script's exit code.
guest_boot() {
	local name=$1 script=$2
	shift 2
	local log=$WORK/$name.log qlog=$WORK/$name.qemu.log
	# Its results are variables (GUEST_LOG...) and its failures end the
	# scenario: neither works in a subshell, e.g. "... | guest_boot".
	[[ $BASH_SUBSHELL == 0 ]] ||
		scenario_fail "guest_boot $name: called in a subshell (do not pipe into it; use guest_set)"
	if [[ $script == - ]]; then
		script=/dev/stdin
	fi
	[[ -r $script ]] || scenario_fail "guest_boot $name: no script $script"
	{ printf '%s' "$GUEST_VARS"; cat "$script"; } >"$WORK/$name.sh"
	script=$WORK/$name.sh
	local timeout=${GUEST_TIMEOUT:-120}
	# quiet: only kernel warnings interleave with the script's output on the
	# console; the init prints the whole kernel log after the script.
	local append="console=ttyS0 panic=-1 quiet ${GUEST_APPEND:-}"
	# shellcheck disable=SC2206 # GUEST_QEMU_ARGS is split on purpose
	local extra=(${GUEST_QEMU_ARGS:-})
	local cmd=("$QEMU" -accel tcg -machine "${GUEST_MACHINE:-q35}" -m "${GUEST_MEM:-512}"
		-nodefaults -no-user-config -display none -no-reboot -monitor none
		-serial "file:$log.raw"
		-kernel "$GUEST_CACHE/kernel" -initrd "$GUEST_CACHE/initramfs.img"
		-append "$append"
		-fw_cfg "name=opt/test.sh,file=${script//,/,,}"
		"${extra[@]}" "$@")
	printf '%q ' "${cmd[@]}" >"$WORK/$name.cmd"
	echo >>"$WORK/$name.cmd"
	local start rc=0
	start=$(date +%s.%N)
	timeout -k 5 "$timeout" "${cmd[@]}" </dev/null >"$qlog" 2>&1 || rc=$?
	GUEST_SECONDS=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
	tr -d '\r' <"$log.raw" >"$log" 2>/dev/null || : >"$log"
	rm -f "$log.raw"
	# shellcheck disable=SC2034 # for the scenarios
	GUEST_LOG=$log
	[[ ${GUEST_VERBOSE:-0} == 1 ]] && sed "s/^/  $name| /" "$log"
	if [[ $rc == 124 || $rc == 137 ]]; then
		show_tail "$log"
		scenario_fail "guest_boot $name: timed out after $timeout s (killed)"
	fi
	if [[ $rc != 0 ]]; then
		show_tail "$qlog" 10
		show_tail "$log"
		scenario_fail "guest_boot $name: QEMU exited with status $rc: $(tail -n 1 "$qlog")"
	fi
	if ! grep -qE '^GUEST-EXIT: [0-9]+$' "$log"; then
		show_tail "$log"
		scenario_fail "guest_boot $name: the guest stopped without reporting the script's exit (crash or panic?)"
	fi
	note "$name: guest exited $(guest_exit_code "$log") after $GUEST_SECONDS s"
}

# guest_exit_code LOG: the exit code the guest init reported in LOG.
guest_exit_code() {
	sed -n 's/^GUEST-EXIT: \([0-9]*\)$/\1/p' "$1" | tail -n 1
}

# guest_dmesg LOG: the kernel log the guest printed after its script.
guest_dmesg() {
	sed -n '/^GUEST-DMESG-BEGIN$/,/^GUEST-DMESG-END$/{/^GUEST-DMESG-/d;p}' "$1"
}

# guest_output LOG: only the test script's output (between the markers).
guest_output() {
	sed -n '/^GUEST-BEGIN$/,/^GUEST-EXIT: /{/^GUEST-BEGIN$/d;/^GUEST-EXIT: /d;p}' "$1"
}

# expect_line LOG REGEX [WHAT]: LOG has a line matching the extended REGEX.
expect_line() {
	local log=$1 re=$2 what=${3:-}
	if ! grep -qE -- "$re" "$log"; then
		show_tail "$log"
		scenario_fail "${what:+$what: }no line matching /$re/ in $log"
	fi
}

# expect_no_line LOG REGEX [WHAT]: LOG has no line matching REGEX.
expect_no_line() {
	local log=$1 re=$2 what=${3:-}
	local hit
	if hit=$(grep -m 1 -E -- "$re" "$log"); then
		show_tail "$log"
		scenario_fail "${what:+$what: }unexpected line /$re/ in $log: $hit"
	fi
}

# expect_exit LOG CODE: the guest script exited with CODE.
expect_exit() {
	local log=$1 want=$2 got
	got=$(guest_exit_code "$log")
	if [[ $got != "$want" ]]; then
		show_tail "$log"
		scenario_fail "guest script exited ${got:-?}, expected $want ($log)"
	fi
}

# guest_value VAR LOG KEY: set VAR to the value of the last "KEY=value"
# line in LOG (a way for guest scripts to report results).  Fails the
# scenario if there is none or it is empty.
guest_value() {
	local _gv_var=$1 _gv_log=$2 _gv_key=$3 _gv_v
	_gv_v=$(sed -n "s/^$_gv_key=//p" "$_gv_log" | tail -n 1)
	if [[ -z $_gv_v ]]; then
		show_tail "$_gv_log"
		scenario_fail "no $_gv_key=... line in $_gv_log"
	fi
	printf -v "$_gv_var" '%s' "$_gv_v"
}

# expect_eq WHAT GOT WANT: GOT equals WANT.
expect_eq() {
	[[ $2 == "$3" ]] || scenario_fail "$1: got '$2', expected '$3'"
}

# expect_ne WHAT GOT OTHER: GOT differs from OTHER.
expect_ne() {
	[[ $2 != "$3" ]] || scenario_fail "$1: got '$2', which it must not be"
}
