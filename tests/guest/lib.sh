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
#      GUEST_FLAVOR=fs  boot the file-system guest (build-guest.sh)
#      GUEST_VERBOSE=1  print each guest's console log after its boot
#      GUEST_QUIET=1    no informational lines (only PASS/FAIL)

GUEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$GUEST_DIR/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$REPO_DIR/build}
QEMU=${QEMU:-$BUILD_DIR/qemu-system-x86_64}
# a scenario that needs the file-system guest sets GUEST_FLAVOR=fs first
GUEST_CACHE=$BUILD_DIR/guest${GUEST_FLAVOR:+-$GUEST_FLAVOR}
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
	# (run.sh builds the plain guest only)
	if [[ ${GUEST_SKIP_BUILD:-0} != 1 || -n ${GUEST_FLAVOR:-} ]]; then
		GUEST_FLAVOR=${GUEST_FLAVOR:-} "$GUEST_DIR/build-guest.sh" "$BUILD_DIR" \
			>"$WORK/build-guest.log" 2>&1 ||
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

# _guest_prepare FUNC NAME SCRIPT [QEMU ARGS...]: for FUNC (guest_boot...),
# write $WORK/NAME.sh (the guest_set variables, then SCRIPT) and
# $WORK/NAME.cmd, and set _GUEST_CMD to the QEMU command line.
_guest_prepare() {
	local func=$1 name=$2 script=$3
	shift 3
	local log=$WORK/$name.log
	# Its results are variables (GUEST_LOG...) and its failures end the
	# scenario: neither works in a subshell, e.g. "... | guest_boot".
	[[ $BASH_SUBSHELL == 0 ]] ||
		scenario_fail "$func $name: called in a subshell (do not pipe into it; use guest_set)"
	if [[ $script == - ]]; then
		script=/dev/stdin
	fi
	[[ -r $script ]] || scenario_fail "$func $name: no script $script"
	{ printf '%s' "$GUEST_VARS"; cat "$script"; } >"$WORK/$name.sh"
	script=$WORK/$name.sh
	# quiet: only kernel warnings interleave with the script's output on the
	# console; the init prints the whole kernel log after the script.
	local append="console=ttyS0 panic=-1 quiet ${GUEST_APPEND:-}"
	# shellcheck disable=SC2206 # GUEST_QEMU_ARGS is split on purpose
	local extra=(${GUEST_QEMU_ARGS:-})
	_GUEST_CMD=("$QEMU" -accel tcg -machine "${GUEST_MACHINE:-q35}" -m "${GUEST_MEM:-512}"
		-nodefaults -no-user-config -display none -no-reboot -monitor none
		-serial "file:$log.raw"
		-kernel "$GUEST_CACHE/kernel" -initrd "$GUEST_CACHE/initramfs.img"
		-append "$append"
		-fw_cfg "name=opt/test.sh,file=${script//,/,,}"
		"${extra[@]}" "$@")
	printf '%q ' "${_GUEST_CMD[@]}" >"$WORK/$name.cmd"
	echo >>"$WORK/$name.cmd"
}

# _guest_collect NAME START: after the boot NAME that began at START (date
# +%s.%N): GUEST_SECONDS, the console log $WORK/NAME.log, GUEST_LOG.
_guest_collect() {
	local name=$1 log=$WORK/$1.log
	GUEST_SECONDS=$(awk -v s="$2" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
	tr -d '\r' <"$log.raw" >"$log" 2>/dev/null || : >"$log"
	rm -f "$log.raw"
	# shellcheck disable=SC2034 # for the scenarios
	GUEST_LOG=$log
	if [[ ${GUEST_VERBOSE:-0} == 1 ]]; then
		sed "s/^/  $name| /" "$log"
	fi
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
	_guest_prepare guest_boot "$name" "$script" "$@"
	local timeout=${GUEST_TIMEOUT:-120}
	local cmd=("${_GUEST_CMD[@]}")
	local start rc=0
	start=$(date +%s.%N)
	timeout -k 5 "$timeout" "${cmd[@]}" </dev/null >"$qlog" 2>&1 || rc=$?
	_guest_collect "$name" "$start"
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

# _guest_alive PID: the process PID runs (exists and is no zombie).
_guest_alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# guest_boot_kill NAME REGEX SCRIPT [QEMU ARGS...]: like guest_boot, but
# QEMU runs in the background and is killed with SIGKILL as soon as a line
# of the console log matches the extended REGEX (a crash, or a power cut as
# far as QEMU's own state goes: nothing of it is flushed or shut down).  The
# guest goes on running until the kill, so what it did between the line
# and the kill is up to chance.  Sets GUEST_LOG and GUEST_SECONDS as
# guest_boot does; fails the scenario if the line does not appear before
# QEMU stops by itself or GUEST_TIMEOUT runs out.
guest_boot_kill() {
	local name=$1 re=$2 script=$3
	shift 3
	local log=$WORK/$name.log qlog=$WORK/$name.qemu.log
	_guest_prepare guest_boot_kill "$name" "$script" "$@"
	local timeout=${GUEST_TIMEOUT:-120}
	local start pid outcome=
	start=$(date +%s.%N)
	: >"$log.raw"
	"${_GUEST_CMD[@]}" </dev/null >"$qlog" 2>&1 &
	pid=$!
	# no "Killed" message from bash: the loop watches the process itself
	disown "$pid"
	while [[ -z $outcome ]]; do
		if tr -d '\r' <"$log.raw" | grep -qE -- "$re"; then
			kill -KILL "$pid" 2>/dev/null || :
			outcome=killed
		elif ! _guest_alive "$pid"; then
			outcome=exited
		elif awk -v s="$start" -v e="$(date +%s.%N)" -v t="$timeout" 'BEGIN { exit !(e - s > t) }'; then
			kill -KILL "$pid" 2>/dev/null || :
			outcome=timeout
		else
			sleep 0.02
		fi
	done
	while _guest_alive "$pid"; do
		sleep 0.02
	done
	_guest_collect "$name" "$start"
	case $outcome in
	killed)
		note "$name: killed QEMU (SIGKILL) after $GUEST_SECONDS s, at /$re/"
		;;
	exited)
		show_tail "$qlog" 10
		show_tail "$log"
		if grep -qE '^GUEST-EXIT: [0-9]+$' "$log"; then
			scenario_fail "guest_boot_kill $name: the guest script exited $(guest_exit_code "$log") before a line matched /$re/"
		fi
		scenario_fail "guest_boot_kill $name: QEMU exited before a line matched /$re/: $(tail -n 1 "$qlog")"
		;;
	*)
		show_tail "$log"
		scenario_fail "guest_boot_kill $name: no line matched /$re/ within $timeout s (killed)"
		;;
	esac
}

# guest_start NAME SCRIPT [QEMU ARGS...]: like guest_boot, but QEMU runs
# in the background, so that the host can act while the guest runs (with
# guest_wait_line and QMP, see qmp.py); guest_finish waits for the end.
guest_start() {
	local name=$1 script=$2
	shift 2
	_guest_prepare guest_start "$name" "$script" "$@"
	_GUEST_NAME=$name
	_GUEST_START=$(date +%s.%N)
	: >"$WORK/$name.log.raw"
	"${_GUEST_CMD[@]}" </dev/null >"$WORK/$name.qemu.log" 2>&1 &
	_GUEST_PID=$!
	disown "$_GUEST_PID"
}

# guest_wait_line REGEX [SECONDS]: wait (default 60 s) until a line of the
# console of the guest guest_start started matches the extended REGEX;
# print that line.  Fails the scenario if QEMU stops first or time runs out.
guest_wait_line() {
	local re=$1 left=$((${2:-60} * 50)) raw=$WORK/$_GUEST_NAME.log.raw line
	while :; do
		line=$(tr -d '\r' <"$raw" | grep -m 1 -E -- "$re" || :)
		if [[ -n $line ]]; then
			echo "$line"
			return 0
		fi
		if ! _guest_alive "$_GUEST_PID"; then
			tr -d '\r' <"$raw" >"$WORK/$_GUEST_NAME.log"
			show_tail "$WORK/$_GUEST_NAME.log"
			scenario_fail "$_GUEST_NAME: QEMU stopped before a line matched /$re/: $(tail -n 1 "$WORK/$_GUEST_NAME.qemu.log")"
		fi
		if ((left-- == 0)); then
			kill -KILL "$_GUEST_PID" 2>/dev/null || :
			tr -d '\r' <"$raw" >"$WORK/$_GUEST_NAME.log"
			show_tail "$WORK/$_GUEST_NAME.log"
			scenario_fail "$_GUEST_NAME: no line matched /$re/ in time"
		fi
		sleep 0.02
	done
}

# guest_finish: wait for the guest of guest_start to power off; then as
# guest_boot (GUEST_LOG, GUEST_SECONDS, the checks of its end).
guest_finish() {
	local name=$_GUEST_NAME log=$WORK/$_GUEST_NAME.log
	local left=$((${GUEST_TIMEOUT:-120} * 50))
	while _guest_alive "$_GUEST_PID"; do
		if ((left-- == 0)); then
			kill -KILL "$_GUEST_PID" 2>/dev/null || :
			scenario_fail "$name: the guest did not power off in time"
		fi
		sleep 0.02
	done
	_guest_collect "$name" "$_GUEST_START"
	if ! grep -qE '^GUEST-EXIT: [0-9]+$' "$log"; then
		show_tail "$WORK/$name.qemu.log" 10
		show_tail "$log"
		scenario_fail "$name: the guest stopped without reporting the script's exit"
	fi
	note "$name: guest exited $(guest_exit_code "$log") after $GUEST_SECONDS s"
}

# median: the median of the numbers on standard input, one per line
# (benchmarks print medians of their runs)
median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# guest_lines LOG KEY: the rest of each line "KEY ..." of the script's
# output in LOG, in order (e.g. the zones the guest listed under a tag).
guest_lines() {
	guest_output "$1" | sed -n "s/^$2 //p"
}

# Shell functions for guest scripts that use zoned namespaces: pass them
# with guest_set "ZNS_FUNCS=$GUEST_ZNS_FUNCS" and eval "$ZNS_FUNCS" in the
# script.
#   nsdev NSID [CTRL]     the block device of namespace NSID of CTRL (nvme0);
#                         Linux numbers them by discovery, not by NSID
#   zones TAG DEV [ARGS]  nvme zns report-zones DEV ARGS..., one line a zone:
#                         "TAG SLBA WP STATE EXT" (EXT 1: a valid descriptor
#                         extension), e.g. "B1 0x2000 0x2180 IMP_OPENED 0"
#   zone_ext DEV SLBA     the printable text of the zone's descriptor extension
#   blk_md5 DEV OFF LEN   md5 of LEN bytes at byte OFF of DEV, read with
#                         O_DIRECT (both multiples of the block size)
# shellcheck disable=SC2016,SC2034 # expanded in the guest; for the scenarios
GUEST_ZNS_FUNCS='
nsdev() {
	for _nd in /sys/block/"${2:-nvme0}"n*; do
		[ "$(cat "$_nd/nsid" 2>/dev/null)" = "$1" ] && echo "/dev/${_nd##*/}"
	done
	return 0
}
zones() {
	_zt=$1 _zd=$2
	shift 2
	nvme zns report-zones "$_zd" -v "$@" | awk -v t="$_zt" "
		function out() { if (s != \"\") print t, s, w, st, x }
		/^SLBA:/ { out(); s = \$2; w = \$4; st = \$8; x = 0 }
		/Extension is Va/ { x = 1 }
		END { out() }"
}
zone_ext() {
	nvme zns report-zones "$1" -e -v -s "$2" -d 1 |
		sed -n "s/^[0-9a-f]\{4\}: .* \"\(.*\)\"\$/\1/p" | tr -d "\n"
}
blk_md5() {
	dd if="$1" bs=65536 skip="$2" count="$3" iflag=skip_bytes,count_bytes,direct 2>/dev/null |
		md5sum | cut -d" " -f1
}
'

# expect_zone LOG TAG SLBA STATE WP EXT [WHAT]: the guest listed (with
# "zones TAG ...", see GUEST_ZNS_FUNCS) the zone starting at block SLBA in
# STATE (EMPTY, IMP_OPENED, EXP_OPENED, CLOSED, FULL...), with its write
# pointer at block WP ("-": any, Full zones have none) and a valid (EXT 1)
# or no (0) descriptor extension.  SLBA and WP: numbers as bash reads them.
expect_zone() {
	local log=$1 tag=$2 slba=$(($3)) state=$4 wp=$5 ext=$6
	local what="$tag: ${7:-zone at $3}" line s w st x
	line=$(guest_lines "$log" "$tag" | while read -r s w st x; do
		[[ $((s)) != "$slba" ]] || echo "$w $st $x"
	done)
	[[ -n $line ]] || { show_tail "$log"; scenario_fail "$what: no zone at block $slba listed in $log"; }
	read -r w st x <<<"$line"
	expect_eq "$what: state" "$st" "$state"
	[[ $wp == - ]] || expect_eq "$what: write pointer" "$((w))" "$((wp))"
	expect_eq "$what: descriptor extension valid" "$x" "$ext"
}
