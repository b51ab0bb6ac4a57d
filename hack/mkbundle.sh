#!/bin/bash
# mkbundle.sh DIR: build an OCI bundle offline from Debian's busybox-static.
#
#   DIR/rootfs       /bin/busybox, a symlink per applet, /etc/passwd, /etc/group,
#                    /tmp (1777), /proc /sys /dev mount points
#   DIR/config.json  runc's default spec, but terminal false (args stay ["sh"])
#
# With ROOTLET=path/to/binary the config comes from that binary's `spec` command
# (rootlet or runc), otherwise from the copy of runc's default spec below.
# Running it again refreshes the rootfs and rewrites config.json.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
busybox=${BUSYBOX:-/bin/busybox}

if [ ! -x "$busybox" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "installing busybox-static" >&2
		export DEBIAN_FRONTEND=noninteractive
		# A fresh machine may have no package lists yet.
		apt-get install -y busybox-static >&2 ||
			{ apt-get update >&2 && apt-get install -y busybox-static >&2; }
	else
		echo "$busybox not found: install busybox-static (apt-get install busybox-static)" >&2
		exit 1
	fi
fi
# A dynamically linked busybox would need its libraries inside the rootfs.
if ! "$busybox" --list >/dev/null 2>&1; then
	echo "$busybox is not a working busybox" >&2
	exit 1
fi

rootfs=$dir/rootfs
mkdir -p "$rootfs"
chmod 0755 "$dir" "$rootfs"
mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp,root}
chmod 0755 "$rootfs"/{bin,etc,proc,sys,dev}
chmod 0700 "$rootfs/root"
chmod 1777 "$rootfs/tmp"

# cp to a temp name + rename: never write through a busybox that a running
# container might be executing.
cp "$busybox" "$rootfs/bin/.busybox.new"
chmod 0755 "$rootfs/bin/.busybox.new"
mv -f "$rootfs/bin/.busybox.new" "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
	[ "$applet" = busybox ] && continue
	ln -sfn busybox "$rootfs/bin/$applet"
done

cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
EOF
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"

config=$dir/config.json
rm -f "$config"
if [ -n "${ROOTLET:-}" ]; then
	"$ROOTLET" spec --bundle "$dir"
	# The spec command's default is an interactive shell; we want no terminal.
	sed -i 's/"terminal": *true/"terminal": false/' "$config"
	if ! grep -q '"terminal": *false' "$config"; then
		echo "$ROOTLET spec: could not turn the terminal off in $config" >&2
		exit 1
	fi
else
	# runc's default spec (runc spec, runc 1.1), with terminal false.
	cat >"$config" <<'EOF'
{
	"ociVersion": "1.0.2-dev",
	"process": {
		"terminal": false,
		"user": {
			"uid": 0,
			"gid": 0
		},
		"args": [
			"sh"
		],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"effective": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"permitted": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"ambient": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			]
		},
		"rlimits": [
			{
				"type": "RLIMIT_NOFILE",
				"hard": 1024,
				"soft": 1024
			}
		],
		"noNewPrivileges": true
	},
	"root": {
		"path": "rootfs",
		"readonly": true
	},
	"hostname": "runc",
	"mounts": [
		{
			"destination": "/proc",
			"type": "proc",
			"source": "proc"
		},
		{
			"destination": "/dev",
			"type": "tmpfs",
			"source": "tmpfs",
			"options": [
				"nosuid",
				"strictatime",
				"mode=755",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/pts",
			"type": "devpts",
			"source": "devpts",
			"options": [
				"nosuid",
				"noexec",
				"newinstance",
				"ptmxmode=0666",
				"mode=0620",
				"gid=5"
			]
		},
		{
			"destination": "/dev/shm",
			"type": "tmpfs",
			"source": "shm",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"mode=1777",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/mqueue",
			"type": "mqueue",
			"source": "mqueue",
			"options": [
				"nosuid",
				"noexec",
				"nodev"
			]
		},
		{
			"destination": "/sys",
			"type": "sysfs",
			"source": "sysfs",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"ro"
			]
		},
		{
			"destination": "/sys/fs/cgroup",
			"type": "cgroup",
			"source": "cgroup",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"relatime",
				"ro"
			]
		}
	],
	"linux": {
		"resources": {
			"devices": [
				{
					"allow": false,
					"access": "rwm"
				}
			]
		},
		"namespaces": [
			{
				"type": "pid"
			},
			{
				"type": "network"
			},
			{
				"type": "ipc"
			},
			{
				"type": "uts"
			},
			{
				"type": "mount"
			}
		],
		"maskedPaths": [
			"/proc/acpi",
			"/proc/asound",
			"/proc/kcore",
			"/proc/keys",
			"/proc/latency_stats",
			"/proc/timer_list",
			"/proc/timer_stats",
			"/proc/sched_debug",
			"/sys/firmware",
			"/proc/scsi"
		],
		"readonlyPaths": [
			"/proc/bus",
			"/proc/fs",
			"/proc/irq",
			"/proc/sys",
			"/proc/sysrq-trigger"
		]
	}
}
EOF
fi
chmod 0644 "$config"
echo "bundle ready: $dir" >&2
