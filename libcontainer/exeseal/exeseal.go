// Package exeseal gives the runtime a handle on its own binary that a
// container cannot write through (CVE-2019-5736: a container process opening
// /proc/<init>/exe for writing and overwriting the host's runtime).
//
// Cheap path: a private, detached, read-only overlayfs whose only layer is
// the binary's directory. Executing the binary from it makes /proc/pid/exe
// point into a read-only mount: opening it for writing fails with EROFS, and
// the mount is never attached to any path. The cost is a few syscalls instead
// of copying ~10 MiB into a sealed memfd on every start. Where overlayfs is
// not available (rootless without userxattr, old kernels) we fall back to
// the sealed memfd copy.
package exeseal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Open returns an O_RDONLY|O_CLOEXEC handle on a protected copy of the
// running binary, to execute as /proc/self/fd/N.
func Open() (*os.File, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	if f, err := openViaOverlay(self); err == nil {
		return f, nil
	}
	return openSealedCopy(self)
}

func openViaOverlay(self string) (*os.File, error) {
	dir, name := filepath.Split(self)
	dir = filepath.Clean(dir)
	// overlayfs without an upper layer needs two lower layers that do not
	// overlap: the binary's directory first (it wins), then an empty one.
	// A private empty directory works on every kernel; an empty detached
	// tmpfs (through /proc/self/fd, refused by 6.1 with "failed to clone
	// lowerpath") is the fallback when that directory overlaps the binary's.
	var lowers []string
	if emptyDir, err := emptyDirectory(); err == nil {
		lowers = append(lowers, emptyDir)
	}
	if empty, err := detachedMount("tmpfs", nil); err == nil {
		defer unix.Close(empty)
		lowers = append(lowers, fmt.Sprintf("/proc/self/fd/%d", empty))
	}
	var lastErr error = errors.New("no empty layer")
	for _, empty := range lowers {
		mfd, err := detachedMount("overlay", map[string]string{"lowerdir": dir + ":" + empty})
		if err != nil {
			lastErr = err
			continue
		}
		fd, err := unix.Openat(mfd, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		unix.Close(mfd)
		if err != nil {
			return nil, err
		}
		return os.NewFile(uintptr(fd), self), nil
	}
	return nil, lastErr
}

// emptyDirectory is a private directory used as an empty overlay layer.
func emptyDirectory() (string, error) {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf(".rootlet-exeseal-%d", os.Geteuid()))
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", err
	}
	return dir, nil
}

// detachedMount creates a read-only mount attached to no path; it vanishes
// when the last fd and process using it are gone.
func detachedMount(fstype string, opts map[string]string) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, err
	}
	defer unix.Close(fsfd)
	for k, v := range opts {
		if err := unix.FsconfigSetString(fsfd, k, v); err != nil {
			return -1, fmt.Errorf("%s option %s: %w", fstype, k, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("create %s: %w", fstype, err)
	}
	return unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
}

func openSealedCopy(self string) (*os.File, error) {
	src, err := os.Open(self)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("rootlet", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "rootlet-memfd")
	if _, err := io.Copy(mem, src); err != nil {
		mem.Close()
		return nil, fmt.Errorf("copy binary to memfd: %w", err)
	}
	const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(mem.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		mem.Close()
		return nil, fmt.Errorf("seal memfd: %w", err)
	}
	return mem, nil
}
