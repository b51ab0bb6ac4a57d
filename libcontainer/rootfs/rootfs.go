// Package rootfs builds the container's filesystem view inside its new mount
// namespace: mounts, devices, /dev symlinks, pivot_root, masked and read-only
// paths. Every path inside the rootfs is resolved with pathrs-lite (openat2
// RESOLVE_IN_ROOT where available) and mounted onto a /proc/self/fd/N handle,
// so a symlink in the image cannot redirect a mount to the host.
package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

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
	spec := o.Spec
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	rootProp, err := rootPropagation(spec.Linux.RootfsPropagation)
	if err != nil {
		return err
	}
	// Nothing we mount may propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make / rslave: %w", err)
	}
	if err := makeParentPrivate(o.Rootfs); err != nil {
		return err
	}
	if err := unix.Mount(o.Rootfs, o.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind mount rootfs %s: %w", o.Rootfs, err)
	}
	m := &mounter{o: o}
	for i := range spec.Mounts {
		if err := m.mount(&spec.Mounts[i]); err != nil {
			return err
		}
	}
	if m.setupDev() {
		if err := m.createDevices(defaultDevices()); err != nil {
			return err
		}
	}
	if err := m.createDevices(spec.Linux.Devices); err != nil {
		return err
	}
	if m.setupDev() {
		if err := m.devSymlinks(); err != nil {
			return err
		}
	}
	if beforePivot != nil {
		if err := beforePivot(); err != nil {
			return err
		}
	}
	if o.NoPivot {
		err = moveRoot(o.Rootfs)
	} else {
		err = pivotRoot(o.Rootfs)
	}
	if err != nil {
		return err
	}
	if rootProp != 0 {
		if err := unix.Mount("", "/", "", uintptr(rootProp), ""); err != nil {
			return fmt.Errorf("set rootfs propagation: %w", err)
		}
	}
	return nil
}

// rootPropagation parses linux.rootfsPropagation.
func rootPropagation(p string) (int, error) {
	if p == "" {
		return 0, nil
	}
	flag, ok := propagationFlags[p]
	if !ok {
		return 0, fmt.Errorf("invalid rootfs propagation %q", p)
	}
	return flag, nil
}

// makeParentPrivate makes the mount holding the rootfs private: pivot_root
// refuses a shared parent, and our bind must not propagate out of it.
func makeParentPrivate(rootfs string) error {
	for dir := rootfs; ; dir = filepath.Dir(dir) {
		err := unix.Mount("", dir, "", unix.MS_PRIVATE, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) || dir == "/" {
			return fmt.Errorf("make parent mount of %s private: %w", rootfs, err)
		}
	}
}

func pivotRoot(rootfs string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(oldroot)
	if err := unix.Chdir(rootfs); err != nil {
		return fmt.Errorf("chdir to rootfs: %w", err)
	}
	// pivot_root(".", ".") stacks the old root on top of the new one; we
	// then detach it without ever needing a directory for it in the image.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return err
	}
	// The old root is rslave of the host: unmounting it must not propagate.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make old root rslave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount old root: %w", err)
	}
	return unix.Chdir("/")
}

func moveRoot(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return fmt.Errorf("chdir to rootfs: %w", err)
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move rootfs to /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return unix.Chdir("/")
}

// MountConsole bind-mounts the pty slave at slavePath over /dev/console.
// Called after Prepare, only when the process has a terminal.
func MountConsole(slavePath string) error {
	dev, err := os.OpenFile("/dev", unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev: %w", err)
	}
	defer dev.Close()
	fd, err := unix.Openat(int(dev.Fd()), "console", unix.O_CREAT|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("create /dev/console: %w", err)
	}
	if err == nil {
		unix.Close(fd)
	}
	// The target is the inode we just checked is not a symlink
	// (CVE-2025-52565): mount onto its fd, not its path.
	target, err := unix.Openat(int(dev.Fd()), "console", unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/console: %w", err)
	}
	defer unix.Close(target)
	var st unix.Stat_t
	if err := unix.Fstat(target, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG && st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return fmt.Errorf("/dev/console is not a regular file or device")
	}
	if err := unix.Mount(slavePath, fdPath(target), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount %s on /dev/console: %w", slavePath, err)
	}
	return nil
}

// Finalize applies maskedPaths, readonlyPaths and root.readonly. Called last,
// after sysctls and the console are set up.
func Finalize(o *Options) error {
	spec := o.Spec
	for _, p := range spec.Linux.ReadonlyPaths {
		if err := readonlyPath(p); err != nil {
			return err
		}
	}
	for _, p := range spec.Linux.MaskedPaths {
		if err := maskPath(p); err != nil {
			return err
		}
	}
	for _, m := range spec.Mounts {
		if filepath.Clean("/"+m.Destination) == "/dev" && hasOption(m.Options, "ro") {
			if err := remountReadonly("/dev"); err != nil {
				return err
			}
		}
	}
	if spec.Root != nil && spec.Root.Readonly {
		if err := remountReadonly("/"); err != nil {
			return fmt.Errorf("make rootfs readonly: %w", err)
		}
	}
	return nil
}

// remountReadonly makes an existing mount read-only, keeping its other
// flags (a user namespace forbids clearing locked ones).
func remountReadonly(path string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return err
	}
	flags := uintptr(st.Flags)&(unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_NOATIME|unix.MS_NODIRATIME|unix.MS_RELATIME) | unix.MS_RDONLY | unix.MS_REMOUNT | unix.MS_BIND
	return unix.Mount("", path, "", flags, "")
}

func readonlyPath(p string) error {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("readonly path %s: %w", p, err)
	}
	defer unix.Close(fd)
	if err := unix.Mount(fdPath(fd), p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind readonly path %s: %w", p, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return err
	}
	flags := uintptr(st.Flags)&(unix.MS_NOATIME|unix.MS_NODIRATIME|unix.MS_RELATIME) |
		unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount("", p, "", flags, ""); err != nil {
		return fmt.Errorf("remount readonly path %s: %w", p, err)
	}
	return nil
}

// maskPath hides a path: /dev/null over a file, a read-only empty tmpfs over
// a directory.
func maskPath(p string) error {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("masked path %s: %w", p, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := unix.Mount("tmpfs", fdPath(fd), "tmpfs", unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("mask directory %s: %w", p, err)
		}
		return nil
	}
	null, err := openDevNull()
	if err != nil {
		return err
	}
	defer unix.Close(null)
	if err := unix.Mount(fdPath(null), fdPath(fd), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	return nil
}

// openDevNull opens the container's /dev/null and checks that it really is
// the null device: an image could have replaced it with a symlink or file
// to make masking expose what it should hide (CVE-2025-31133).
func openDevNull() (int, error) {
	fd, err := unix.Open("/dev/null", unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /dev/null: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		unix.Close(fd)
		return -1, errors.New("/dev/null is not the null device: refusing to use it for masking")
	}
	return fd, nil
}

// WriteSysctls writes linux.sysctl through /proc/sys of the container, with
// no symlink followed and after checking that /proc/sys really is procfs
// (a mount over /proc could redirect the writes, CVE-2019-16884).
func WriteSysctls(sysctls map[string]string) error {
	if len(sysctls) == 0 {
		return nil
	}
	dir, err := unix.Open("/proc/sys", unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /proc/sys: %w", err)
	}
	defer unix.Close(dir)
	var fs unix.Statfs_t
	if err := unix.Fstatfs(dir, &fs); err != nil {
		return err
	}
	if fs.Type != unix.PROC_SUPER_MAGIC {
		return errors.New("/proc/sys is not on procfs: refusing to write sysctls")
	}
	for key, value := range sysctls {
		rel := strings.ReplaceAll(key, ".", "/")
		how := &unix.OpenHow{
			Flags:   unix.O_WRONLY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
		}
		fd, err := unix.Openat2(dir, rel, how)
		if err != nil {
			return fmt.Errorf("open sysctl %s: %w", key, err)
		}
		_, err = unix.Write(fd, []byte(value))
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("write sysctl %s=%s: %w", key, value, err)
		}
	}
	return nil
}

func fdPath(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }

// openInRoot resolves path inside root like a chroot would, refusing to
// leave it, and returns an O_PATH handle.
func openInRoot(root, path string) (*os.File, error) {
	return pathrs.OpenInRoot(root, path)
}

// mkdirInRoot creates path (and parents) inside root safely and returns an
// O_PATH handle on it.
func mkdirInRoot(root *os.File, path string, mode os.FileMode) (*os.File, error) {
	return pathrs.MkdirAllHandle(root, path, mode)
}
