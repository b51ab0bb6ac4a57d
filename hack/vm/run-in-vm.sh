#!/bin/bash
# run-in-vm.sh: run a command in a throwaway VM whose kernel offers pure
# cgroup v2 (this host is hybrid v1/v2, so v2-only behaviour is tested there).
#
#   run-in-vm.sh [--timeout S] [--memory MB] [--env K=V]... --cmd 'COMMAND' -- [SRC[:DEST]]...
#
# Each SRC (file or directory, copied with cp -a) lands at DEST in the VM,
# default /<basename SRC>. COMMAND runs as a busybox sh script in / after the guest
# has mounted proc, sysfs, devtmpfs, /run, /tmp and cgroup2 at /sys/fs/cgroup
# with every controller enabled in the root's cgroup.subtree_control, and has
# loaded overlay.ko. The console streams to stdout; the guest prints
# `VM-RESULT: exit=<code>` and powers off. This script exits with that code,
# 124 when the timeout hits first, 125 when the marker is missing otherwise.
#
# The root filesystem is a tmpfs (the initramfs is copied there and
# switch_root'ed into), because pivot_root(2) fails on the initramfs rootfs
# and container runtimes need it. Executable files given as SRC bring the
# shared libraries ldd lists (a directory's contents are copied as they are).
# Needs root (mknod /dev/console in the initramfs).
#
# Environment: ROOTLET_VM_CACHE, VM_MODULES (see fetch-kernel.sh),
# VM_KEEP_INITRD=1 keeps the work directory, QEMU_EXTRA adds qemu arguments.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
timeout_s=600
memory_mb=2048
cmd=
envs=()
while (($#)); do
	case $1 in
	--timeout) timeout_s=$2; shift 2 ;;
	--memory) memory_mb=$2; shift 2 ;;
	--env) envs+=("$2"); shift 2 ;;
	--cmd) cmd=$2; shift 2 ;;
	--) shift; break ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "run-in-vm: unknown argument $1" >&2; exit 2 ;;
	esac
done
[[ -n $cmd ]] || { echo "run-in-vm: --cmd is required" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "run-in-vm: must run as root (device nodes in the initramfs)" >&2; exit 2; }

eval "$("$here/fetch-kernel.sh")" # sets KERNEL and MODULES

# busybox must be static: it is the guest's only userland.
busybox=
for b in /bin/busybox /usr/bin/busybox; do
	if [[ -x $b ]] && ! ldd "$b" >/dev/null 2>&1; then busybox=$b; break; fi
done
if [[ -z $busybox ]]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y busybox-static >&2
	busybox=/bin/busybox
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/rootlet-vm.XXXXXX")
if [[ ${VM_KEEP_INITRD:-} == 1 ]]; then
	echo "run-in-vm: work directory $work kept" >&2
else
	trap 'rm -rf "$work"' EXIT
fi
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,etc,root,newroot,lib/modules}
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
printf '127.0.0.1 localhost\n' >"$root/etc/hosts"
cp "$MODULES"/*.ko "$MODULES/order" "$root/lib/modules/"

# copy_libs FILE: a dynamically linked FILE gets its libraries and loader at
# their host paths, so a binary like Debian's runc runs as is in the guest.
copy_libs() {
	local lib
	ldd "$1" >/dev/null 2>&1 || return 0 # static, or not an ELF executable
	for lib in $(ldd "$1" | grep -o '/[^ ]*'); do
		[[ -e $root$lib ]] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}

for spec in "$@"; do
	src=${spec%%:*}
	dest=${spec#*:}
	[[ $spec == *:* ]] || dest=/$(basename "$src")
	[[ -e $src ]] || { echo "run-in-vm: $src does not exist" >&2; exit 2; }
	mkdir -p "$root/$(dirname "$dest")"
	cp -aH "$src" "$root/$dest" # -H: a symlink given on the command line is copied as its target
	[[ -f $src && -x $src ]] && copy_libs "$src"
done

{
	echo '#!/bin/sh'
	echo 'set -a'
	for e in "${envs[@]}"; do printf '%q\n' "$e"; done
	echo 'set +a'
	printf '%s\n' "$cmd"
} >"$root/vm-cmd.sh"

cat >"$root/init" <<'INIT'
#!/bin/busybox sh
# Guest PID 1. Stage 1 runs on the initramfs rootfs and moves everything to
# a tmpfs; stage 2 prepares the system, runs /vm-cmd.sh and powers off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
if [ "$1" != stage2 ]; then
	/bin/busybox --install -s /bin
	exec </dev/console >/dev/console 2>&1
	mount -t tmpfs -o mode=0755 tmpfs /newroot
	for f in /* /.[!.]*; do
		[ -e "$f" ] && [ "$f" != /newroot ] && cp -a "$f" /newroot/
	done
	exec switch_root /newroot /init stage2
fi
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t cgroup2 none /sys/fs/cgroup
# One write per controller: a controller the kernel lacks must not stop the rest.
for c in cpuset cpu io memory pids hugetlb misc rdma; do
	grep -qw "$c" /sys/fs/cgroup/cgroup.controllers &&
		echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control
done
while read -r m; do
	insmod "/lib/modules/$m" || echo "vm-init: insmod $m failed"
done </lib/modules/order
ip link set lo up 2>/dev/null
hostname rootlet-vm
cd /
sh /vm-cmd.sh
rc=$?
echo "VM-RESULT: exit=$rc"
sync
poweroff -f
INIT
chmod 755 "$root/init" "$root/vm-cmd.sh"

(
	cd "$root"
	if command -v cpio >/dev/null; then
		find . -print0 | cpio --null --quiet -o -H newc
	else
		find . | "$busybox" cpio -o -H newc 2>/dev/null
	fi
) | gzip -1 >"$work/initrd.gz"

log=$work/console.log
set +e
# stdin from /dev/null: with -nographic qemu would otherwise grab the
# terminal (raw mode, Ctrl-A escapes). sed strips the serial console's \r.
# shellcheck disable=SC2086
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 -accel tcg -m "$memory_mb" -smp 2 \
	-nographic -no-reboot -kernel "$KERNEL" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet" ${QEMU_EXTRA:-} </dev/null |
	sed -u 's/\r$//' | tee "$log"
status=${PIPESTATUS[0]}
set -e

result=$(grep -a -o 'VM-RESULT: exit=[0-9]*' "$log" | tail -n1 | cut -d= -f2 || true)
if [[ -n $result ]]; then
	exit "$result"
fi
if ((status == 124 || status == 137)); then
	echo "run-in-vm: timed out after ${timeout_s}s" >&2
	exit 124
fi
echo "run-in-vm: no VM-RESULT marker (qemu exit $status)" >&2
exit 125
