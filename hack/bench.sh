#!/bin/bash
# bench.sh [bench flags]: measure rootlet, runc and crun side by side
# (`make bench`). Runs everything in a private mount namespace where the
# hybrid host's /sys/fs/cgroup/unified is unmounted: crun 1.8 refuses hybrid
# cgroups, and all runtimes must see the same machine.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench needs root" >&2; exit 1; }
command -v crun >/dev/null && command -v runc >/dev/null || {
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc crun >/dev/null
}
bundle=$(mktemp -d /tmp/rootlet-bench-bundle.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
hack/mkbundle.sh "$bundle" >/dev/null
go build -o bin/bench ./hack/bench
exec unshare -m --propagation private sh -c '
	if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
	exec bin/bench -bundle "$0" "$@"' "$bundle" "$@"
