# Helpers for the test guest (busybox sh).  /init sources this file, and
# every test script runs with it already sourced, so scripts can call these.

# guest_log MSG...: a line of the init's own, marked for the host.
guest_log() {
	echo "GUEST-INIT: $*"
}

# guest_fw_cfg_path NAME: where the contents of fw_cfg entry NAME
# (QEMU: -fw_cfg name=NAME,file=PATH) can be read.
guest_fw_cfg_path() {
	echo "/sys/firmware/qemu_fw_cfg/by_name/$1/raw"
}

# guest_wait_for PATH [SECONDS]: wait until PATH exists (default 10 s).
guest_wait_for() {
	_gw_n=$(( ${2:-10} * 10 ))
	while [ ! -e "$1" ]; do
		[ "$_gw_n" -gt 0 ] || return 1
		_gw_n=$((_gw_n - 1))
		sleep 0.1
	done
	return 0
}

# guest_load_modules: insmod the modules listed, in order, in
# /lib/modules/guest/load-order (written by build-guest.sh).
guest_load_modules() {
	_gl_dir=/lib/modules/guest
	[ -r "$_gl_dir/load-order" ] || return 0
	while read -r _gl_m; do
		[ -n "$_gl_m" ] || continue
		_gl_err=$(insmod "$_gl_dir/$_gl_m.ko" 2>&1) ||
			case "$_gl_err" in
			*"File exists"*) ;;
			*) guest_log "insmod $_gl_m failed: $_gl_err" ;;
			esac
	done <"$_gl_dir/load-order"
}

# guest_nvme_pci_count: how many NVMe functions (class 0x010802) are on PCI.
guest_nvme_pci_count() {
	_gc_n=0
	for _gc_c in /sys/bus/pci/devices/*/class; do
		[ -r "$_gc_c" ] || continue
		[ "$(cat "$_gc_c")" = 0x010802 ] && _gc_n=$((_gc_n + 1))
	done
	echo "$_gc_n"
}

# guest_nvme_active_nsids CTRL: the active NSIDs CTRL (e.g. nvme0) reports.
guest_nvme_active_nsids() {
	nvme list-ns "/dev/$1" 2>/dev/null | sed -n 's/.*:0x\([0-9a-fA-F]*\).*/\1/p'
}

# _guest_nvme_settled: 0 when every NVMe PCI function has a live controller
# and every controller has a block device for each of its active namespaces.
_guest_nvme_settled() {
	_gs_want=$(guest_nvme_pci_count)
	_gs_have=0
	for _gs_c in /sys/class/nvme/nvme*; do
		[ -e "$_gs_c" ] || continue
		[ "$(cat "$_gs_c/state" 2>/dev/null)" = live ] || return 1
		_gs_have=$((_gs_have + 1))
		_gs_ctrl=${_gs_c##*/}
		_gs_nns=$(guest_nvme_active_nsids "$_gs_ctrl" | wc -l)
		_gs_blk=0
		for _gs_b in "$_gs_c"/nvme*n*; do
			[ -e "$_gs_b" ] && _gs_blk=$((_gs_blk + 1))
		done
		[ "$_gs_blk" -ge "$_gs_nns" ] || return 1
	done
	[ "$_gs_have" -ge "$_gs_want" ]
}

# guest_nvme_settle [SECONDS]: wait (default 10 s) until the NVMe
# controllers are live and their active namespaces have block devices, and
# the /dev nodes exist.  Returns 1 on timeout.
guest_nvme_settle() {
	_gn_n=$(( ${1:-10} * 10 ))
	until _guest_nvme_settled; do
		[ "$_gn_n" -gt 0 ] || return 1
		_gn_n=$((_gn_n - 1))
		sleep 0.1
	done
	for _gn_b in /sys/class/nvme/nvme*/nvme*n*; do
		[ -e "$_gn_b" ] || continue
		# a multipath path device nvmeXcYnZ has no node: its head is nvmeXnZ
		_gn_d=$(echo "${_gn_b##*/}" | sed 's/c[0-9]*n/n/')
		guest_wait_for "/dev/$_gn_d" 2 || return 1
	done
	return 0
}
