#!/bin/bash
# install-deps.sh: the Debian 12 packages needed to build rootlet and run its
# tests. Go itself is expected at /usr/local/go (see go.mod for the version).
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
	echo "run as root (sudo $0)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
# busybox-static: test rootfs; libseccomp-dev gcc: cgo build; uidmap: user
# namespace id maps (newuidmap); iproute2: `ip netns` in the tests;
# procps: pgrep in the tests.
apt-get install -y --no-install-recommends \
	busybox-static libseccomp-dev uidmap iproute2 procps gcc libc6-dev make git ca-certificates
if [ ! -x /usr/local/go/bin/go ] && ! command -v go >/dev/null; then
	echo "warning: Go not found; install it at /usr/local/go" >&2
fi
