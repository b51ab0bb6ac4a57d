#!/bin/bash
# test-cgroupv2.sh: run tests/cgroupv2 against the runtime inside a pure
# cgroup v2 VM (`make test-cgroupv2`). Builds a static rootlet, the test
# binary and a busybox bundle, boots them with run-in-vm.sh and exits with the
# tests' result.
#
#   test-cgroupv2.sh [test binary flags, e.g. -test.run 'Pause|Pids']
#
# ROOTLET_BIN=/usr/bin/runc (any existing binary) tests that binary instead
# of building rootlet; its shared libraries come along (run-in-vm.sh copies
# what ldd lists). That is how the tests were checked against runc.
# VM_TIMEOUT (seconds, default 900) bounds the whole VM run.
#
# Why a static rootlet: the binary is cgo (the nsenter constructor), and the
# guest has no libc. A static link (-extldflags -static, with the osusergo
# and netgo tags so glibc's NSS is never needed) is one self-contained file
# that also works when re-executed inside the container. When libseccomp is
# linked in, libseccomp-dev's libseccomp.a keeps this working.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
start=$(date +%s)

work=$(mktemp -d "${TMPDIR:-/tmp}/rootlet-cgroupv2.XXXXXX")
trap 'rm -rf "$work"' EXIT

cd "$repo"
if [[ -n ${ROOTLET_BIN:-} ]]; then
	bin=$(command -v "$ROOTLET_BIN")
	echo "test-cgroupv2: testing $bin"
else
	echo "test-cgroupv2: building a static rootlet"
	if grep -q '^build:' Makefile 2>/dev/null; then
		# The shipped binary, built with the Makefile's flags (static already).
		make --no-print-directory build
		bin=$repo/bin/rootlet
	else
		bin=$work/rootlet
		CGO_ENABLED=1 go build -tags osusergo,netgo \
			-ldflags "-linkmode external -extldflags -static" -o "$bin" ./cmd/rootlet
	fi
	if ldd "$bin" >/dev/null 2>&1; then
		echo "test-cgroupv2: $bin is not static" >&2
		exit 1
	fi
fi
CGO_ENABLED=0 go test -c -o "$work/cgroupv2.test" ./tests/cgroupv2

bundle=$work/bundle
if [[ -x $repo/hack/mkbundle.sh ]]; then
	ROOTLET= "$repo/hack/mkbundle.sh" "$bundle" >/dev/null
else
	# A minimal busybox rootfs; the tests write their own config.json.
	rootfs=$bundle/rootfs
	mkdir -p "$rootfs"/{bin,etc,dev,proc,sys,tmp,root}
	busybox=$(command -v busybox)
	cp "$busybox" "$rootfs/bin/busybox"
	for applet in $("$rootfs/bin/busybox" --list); do
		[[ -e $rootfs/bin/$applet ]] || ln -s busybox "$rootfs/bin/$applet"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
	chmod 1777 "$rootfs/tmp"
	chmod 0755 "$rootfs"
fi
[[ -x $bundle/rootfs/bin/sh ]] || { echo "test-cgroupv2: bundle has no /bin/sh" >&2; exit 1; }
built=$(date +%s)

# Quoted for the guest shell: -test.run patterns contain | and spaces.
test_args=
(($#)) && test_args=$(printf ' %q' "$@")
set +e
"$here/run-in-vm.sh" --timeout "${VM_TIMEOUT:-900}" \
	--env ROOTLET_VM=1 --env ROOTLET_BIN=/bin/rootlet --env BUNDLE=/bundle \
	--cmd "/cgroupv2.test -test.v -test.timeout 14m$test_args" \
	-- "$bin:/bin/rootlet" "$work/cgroupv2.test:/cgroupv2.test" "$bundle:/bundle"
rc=$?
set -e
end=$(date +%s)
echo "test-cgroupv2: exit $rc; build $((built - start))s, VM $((end - built))s, total $((end - start))s"
exit $rc
