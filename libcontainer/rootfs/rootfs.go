// Package rootfs builds the container's filesystem view inside its new mount
// namespace: mounts, devices, /dev symlinks, pivot_root, masked and read-only
// paths. Every path inside the rootfs is resolved with securejoin/openat2 so a
// symlink in the image cannot redirect a mount to the host.
package rootfs

import specs "github.com/opencontainers/runtime-spec/specs-go"

// Options describe one container's rootfs setup. The caller is the container
// init, already inside the new mount namespace (and user namespace, if any).
type Options struct {
	Spec     *specs.Spec
	Rootfs   string // absolute, symlink-free host path of the rootfs
	NoPivot  bool   // use MS_MOVE + chroot instead of pivot_root
	InUserNS bool   // in a user namespace: bind-mount devices instead of mknod
}

// Prepare does everything up to and including pivot_root (or chroot with
// NoPivot). On return the process's root and cwd are the container's "/".
// beforePivot, if non-nil, runs after all mounts and before pivot_root (the
// createContainer hooks run there).
func Prepare(o *Options, beforePivot func() error) error {
	panic("rootfs.Prepare: being written")
}

// MountConsole bind-mounts the pty slave at slavePath over /dev/console.
// Called after Prepare, only when the process has a terminal.
func MountConsole(slavePath string) error {
	panic("rootfs.MountConsole: being written")
}

// Finalize applies maskedPaths, readonlyPaths and root.readonly. Called last,
// after sysctls and the console are set up.
func Finalize(o *Options) error {
	panic("rootfs.Finalize: being written")
}
