package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// fdPath is the magic link mount(2) follows to reach exactly the inode an
// O_PATH handle holds, whatever happens to the path afterwards.
func fdPath(f *os.File) string {
	return "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
}

// mountOnHandle is mount(2) with the target given by a handle.
func mountOnHandle(source string, target *os.File, fstype string, flags uintptr, data string) error {
	err := unix.Mount(source, fdPath(target), fstype, flags, data)
	runtime.KeepAlive(target)
	if err != nil {
		return &os.PathError{Op: "mount", Path: target.Name(), Err: err}
	}
	return nil
}

// attachTree moves a detached mount (open_tree/fsmount fd) onto target.
func attachTree(tree int, target *os.File) error {
	err := unix.MoveMount(tree, "", int(target.Fd()), "",
		unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	runtime.KeepAlive(target)
	if err != nil {
		return &os.PathError{Op: "move_mount", Path: target.Name(), Err: err}
	}
	return nil
}

// cloneTree is open_tree(OPEN_TREE_CLONE): a detached copy of the mount at
// path (or at fd with path ""), like a bind mount not yet attached.
func cloneTree(dirfd int, path string, recursive bool) (int, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if path == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(dirfd, path, flags)
	if err != nil {
		name := path
		if name == "" {
			name = "fd " + strconv.Itoa(dirfd)
		}
		return -1, &os.PathError{Op: "open_tree", Path: name, Err: err}
	}
	return fd, nil
}

func setAttr(fd int, recursive bool, attr *unix.MountAttr) error {
	flags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	if err := unix.MountSetattr(fd, "", flags, attr); err != nil {
		return fmt.Errorf("mount_setattr: %w", err)
	}
	return nil
}

func mountID(f *os.File) (uint64, error) {
	var stx unix.Statx_t
	err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &stx)
	runtime.KeepAlive(f)
	if err != nil {
		return 0, &os.PathError{Op: "statx", Path: f.Name(), Err: err}
	}
	return stx.Mnt_id, nil
}

// openInRoot opens dest (a container path) as an O_PATH handle with every
// symlink resolved inside root.
func openInRoot(root *os.File, dest string) (*os.File, error) {
	return pathrs.OpenatInRoot(root, dest)
}

// reopenMounted returns a handle to the mount just placed on old's path. The
// old handle still points at the covered inode, so attributes and
// propagation must go through a fresh lookup; the mount id check makes sure
// that lookup did find the new mount.
func reopenMounted(root *os.File, dest string, old *os.File) (*os.File, error) {
	oldID, err := mountID(old)
	if err != nil {
		return nil, err
	}
	h, err := openInRoot(root, dest)
	if err != nil {
		return nil, err
	}
	newID, err := mountID(h)
	if err != nil {
		h.Close()
		return nil, err
	}
	if newID == oldID {
		h.Close()
		return nil, fmt.Errorf("new mount not found at %q (path changed during setup?)", dest)
	}
	return h, nil
}

// openOrCreate resolves dest inside root, creating it when missing: a
// directory, or an empty regular file when asFile (bind-mounting a file).
func openOrCreate(root *os.File, dest string, asFile bool) (*os.File, error) {
	h, err := openInRoot(root, dest)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return h, err
	}
	if !asFile {
		return pathrs.MkdirAllHandle(root, dest, 0o755)
	}
	dir, err := pathrs.MkdirAllHandle(root, filepath.Dir(dest), 0o755)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	return createFileAt(dir, filepath.Base(dest), 0o644)
}

// createFileAt creates (if missing) an empty regular file name in dir and
// returns an O_PATH handle to it. It never follows a symlink at name.
func createFileAt(dir *os.File, name string, mode uint32) (*os.File, error) {
	dfd := int(dir.Fd())
	fd, err := unix.Openat(dfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err == nil {
		unix.Close(fd)
	} else if !errors.Is(err, unix.EEXIST) {
		return nil, &os.PathError{Op: "create", Path: name, Err: err}
	}
	fd, err = unix.Openat(dfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	runtime.KeepAlive(dir)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), filepath.Join(dir.Name(), name))
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "fstat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, fmt.Errorf("%s exists and is not a regular file", f.Name())
	}
	return f, nil
}

func isDirHandle(f *os.File) (bool, error) {
	var st unix.Stat_t
	err := unix.Fstat(int(f.Fd()), &st)
	runtime.KeepAlive(f)
	if err != nil {
		return false, err
	}
	return st.Mode&unix.S_IFMT == unix.S_IFDIR, nil
}

// withUmask runs fn with the process umask set to mask (umask is per
// process, and the caller is single-purpose init, so this is safe).
func withUmask(mask int, fn func() error) error {
	old := unix.Umask(mask)
	defer unix.Umask(old)
	return fn()
}
