// Package rootfs builds the container's filesystem view inside its new mount
// namespace: mounts, devices, /dev symlinks, pivot_root, masked and read-only
// paths, sysctls.
//
// Safety rules, because the rootfs is untrusted (an image can contain any
// symlink):
//   - every path inside the rootfs is resolved with pathrs-lite (openat2
//     RESOLVE_IN_ROOT where available) into an O_PATH handle, and mounts are
//     made onto that handle (move_mount to the fd, or mount(2) onto
//     /proc/self/fd/N), never onto a path string the image could redirect;
//   - bind mounts are built detached (open_tree), get their flags with
//     mount_setattr and are then attached: no window with the wrong flags,
//     and flags locked by a user namespace are never touched;
//   - /dev/null (masking) and the console slave are checked by fstat before
//     they are bound anywhere (CVE-2025-31133, CVE-2025-52565).
package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
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
	// CgroupFDs are the container's open cgroup.procs files (one per
	// hierarchy), for when the init joins its cgroups after Prepare: cgroup
	// mounts bind the directories holding them. Empty: the cgroups in
	// /proc/self/cgroup are used.
	CgroupFDs []int
}

// Prepare does everything up to and including pivot_root (or chroot with
// NoPivot). On return the process's root and cwd are the container's "/".
// beforePivot, if non-nil, runs after all mounts and before pivot_root (the
// createContainer hooks run there). Relative bind-mount sources are taken
// relative to the working directory at the time of the call (the bundle).
func Prepare(o *Options, beforePivot func() error) error {
	if o.Spec == nil {
		return errors.New("rootfs: no spec")
	}
	if !filepath.IsAbs(o.Rootfs) {
		return fmt.Errorf("rootfs path %q is not absolute", o.Rootfs)
	}
	rootfs := filepath.Clean(o.Rootfs)
	var requested string
	if o.Spec.Linux != nil {
		requested = o.Spec.Linux.RootfsPropagation
	}
	prop, err := rootPropagation(requested)
	if err != nil {
		return err
	}
	// The namespace's "/" gets the requested propagation now (so an rshared
	// bind source stays a peer of the host's for bidirectional volumes),
	// except unbindable: an unbindable tree could not be bind-mounted below.
	initial := prop
	if prop&unix.MS_UNBINDABLE != 0 {
		initial = unix.MS_SLAVE | unix.MS_REC
	}
	if err := unix.Mount("", "/", "", initial, ""); err != nil {
		return fmt.Errorf("error setting propagation of /: %w", err)
	}
	if err := makeParentSlave(rootfs); err != nil {
		return err
	}
	// The rootfs must be a mount point for pivot_root.
	if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("error bind-mounting rootfs %q onto itself: %w", rootfs, err)
	}
	root, err := os.OpenFile(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("error opening rootfs: %w", err)
	}
	defer root.Close()
	s := &setup{opts: o, rootfs: rootfs, root: root}

	for i := range o.Spec.Mounts {
		if err := s.mountOne(&o.Spec.Mounts[i]); err != nil {
			return err
		}
	}
	devSetup := needsDevSetup(o.Spec)
	if devSetup {
		if err := s.setupDev(); err != nil {
			return err
		}
	}
	if beforePivot != nil {
		if err := beforePivot(); err != nil {
			return err
		}
	}
	// pivot_root and MS_MOVE refuse a shared mount; as a slave it still
	// receives what its old peers get. The requested propagation is set on
	// the new "/" below.
	if err := unix.Mount("", rootfs, "", unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("error making rootfs a slave mount: %w", err)
	}
	if o.NoPivot {
		err = moveRoot(rootfs)
	} else {
		err = pivotRoot(rootfs)
	}
	if err != nil {
		return fmt.Errorf("error jailing process inside rootfs: %w", err)
	}
	if requested != "" {
		if err := unix.Mount("", "/", "", prop, ""); err != nil {
			return fmt.Errorf("unable to apply root propagation %q: %w", requested, err)
		}
	}
	if devSetup {
		if err := reopenDevNull(); err != nil {
			return fmt.Errorf("error reopening /dev/null inside container: %w", err)
		}
	}
	return nil
}

// makeParentSlave makes the mount holding the rootfs a slave: pivot_root
// refuses a shared parent, and our bind must not propagate out of it, but
// unlike private it still receives mounts from the host (rslave semantics).
func makeParentSlave(rootfs string) error {
	for dir := rootfs; ; dir = filepath.Dir(dir) {
		err := unix.Mount("", dir, "", unix.MS_SLAVE, "")
		if err == nil {
			return nil
		}
		// EINVAL: not a mount point, try the parent directory.
		if !errors.Is(err, unix.EINVAL) || dir == "/" {
			return fmt.Errorf("error making parent mount of %q a slave: %w", rootfs, err)
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
	// then detach it without needing a directory for it in the image.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return err
	}
	// Unmounting must not propagate to the host: make the old root rslave.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make old root rslave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount old root: %w", err)
	}
	return unix.Chdir("/")
}

// moveRoot is the --no-pivot path: MS_MOVE the rootfs over "/" and chroot.
// The host's mounts stay in the namespace underneath, so its procfs and
// sysfs mounts are detached first: a visible host /proc would let the
// container pass the kernel's "fully visible proc" check for new mounts.
func moveRoot(rootfs string) error {
	hostFS, err := mountinfo.GetMounts(func(m *mountinfo.Info) (bool, bool) {
		inside := m.Mountpoint == rootfs || strings.HasPrefix(m.Mountpoint, rootfs+"/")
		return inside || (m.FSType != "proc" && m.FSType != "sysfs"), false
	})
	if err != nil {
		return err
	}
	sort.Slice(hostFS, func(i, j int) bool { return len(hostFS[i].Mountpoint) > len(hostFS[j].Mountpoint) })
	for _, m := range hostFS {
		// Slave first so the unmount does not propagate to the host.
		if err := unix.Mount("", m.Mountpoint, "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			continue // already gone with a parent
		}
		if err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH); err != nil {
			if err := unix.Mount("tmpfs", m.Mountpoint, "tmpfs", unix.MS_RDONLY, "size=0"); err != nil {
				return fmt.Errorf("hide host %s at %s: %w", m.FSType, m.Mountpoint, err)
			}
		}
	}
	if err := unix.Chdir(rootfs); err != nil {
		return fmt.Errorf("chdir to rootfs: %w", err)
	}
	// The move must not propagate to the host's "/" either.
	if err := unix.Mount("", "/", "", unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("make / slave: %w", err)
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move rootfs to /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return unix.Chdir("/")
}

// openNoMagic opens a container path (after the pivot) as an O_PATH handle.
// Symlinks inside the container are followed, magic links (/proc/*/fd/*,
// which could name host files the init holds) are not.
func openNoMagic(path string, extra uint64) (*os.File, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC | extra,
		Resolve: unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// MountConsole bind-mounts the pty slave at slavePath over /dev/console.
// Called after Prepare, only when the process has a terminal.
func MountConsole(slavePath string) error {
	slave, err := openNoMagic(slavePath, unix.O_NOFOLLOW)
	if err != nil {
		return fmt.Errorf("error opening console slave: %w", err)
	}
	defer slave.Close()
	if err := checkPtySlave(slave); err != nil {
		return err
	}
	dev, err := openNoMagic("/dev", unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("error setting up /dev/console: %w", err)
	}
	defer dev.Close()
	// createFileAt refuses a symlink or anything but a regular file; an
	// existing device node at /dev/console is accepted as it is.
	target, err := createFileAt(dev, "console", 0o600)
	if err != nil {
		var st unix.Stat_t
		if unix.Fstatat(int(dev.Fd()), "console", &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR {
			fd, err2 := unix.Openat(int(dev.Fd()), "console", unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err2 == nil {
				target, err = os.NewFile(uintptr(fd), "/dev/console"), nil
			}
		}
		if err != nil {
			return fmt.Errorf("error setting up /dev/console: %w", err)
		}
	}
	defer target.Close()
	tree, err := cloneTree(int(slave.Fd()), "", false)
	if err != nil {
		return fmt.Errorf("error mounting console on /dev/console: %w", err)
	}
	defer unix.Close(tree)
	if err := attachTree(tree, target); err != nil {
		return fmt.Errorf("error mounting console on /dev/console: %w", err)
	}
	return nil
}

// checkPtySlave makes sure the console source is a pty slave on devpts, not
// something an image put at /dev/pts/N.
func checkPtySlave(f *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &sfs); err != nil {
		return err
	}
	// Unix98 pty slaves use majors 136-143.
	major := unix.Major(st.Rdev)
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || major < 136 || major > 143 || sfs.Type != unix.DEVPTS_SUPER_MAGIC {
		return fmt.Errorf("console %q is not a pty slave on devpts", f.Name())
	}
	return nil
}

// Finalize applies readonlyPaths, maskedPaths, a read-only /dev (if the
// spec asked; it was kept writable for the devices) and root.readonly.
// Called last, after sysctls and the console are set up.
func Finalize(o *Options) error {
	spec := o.Spec
	if spec.Linux != nil {
		for _, p := range spec.Linux.ReadonlyPaths {
			if err := readonlyPath(p); err != nil {
				return err
			}
		}
		if err := maskPaths(spec.Linux.MaskedPaths); err != nil {
			return err
		}
	}
	for _, m := range spec.Mounts {
		if cleanDest(m.Destination) != "/dev" || m.Type != "tmpfs" {
			continue
		}
		if opts, err := parseMountOptions(m.Options); err == nil && opts.flags&unix.MS_RDONLY != 0 {
			if err := setReadonly("/dev", false); err != nil {
				return fmt.Errorf("error making /dev read-only: %w", err)
			}
		}
	}
	if spec.Root != nil && spec.Root.Readonly {
		if err := setReadonly("/", false); err != nil {
			return fmt.Errorf("error making rootfs read-only: %w", err)
		}
	}
	return nil
}

// setReadonly makes the mount at path read-only; other flags (even ones a
// user namespace locks) are left alone by mount_setattr.
func setReadonly(path string, recursive bool) error {
	h, err := openNoMagic(path, unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer h.Close()
	return setAttr(int(h.Fd()), recursive, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
}

// readonlyPath bind-mounts p onto itself (with its submounts) read-only.
// Missing paths are skipped.
func readonlyPath(p string) error {
	h, err := openNoMagic(p, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("can't make %q read-only: %w", p, err)
	}
	defer h.Close()
	tree, err := cloneTree(int(h.Fd()), "", true)
	if err != nil {
		return fmt.Errorf("can't make %q read-only: %w", p, err)
	}
	defer unix.Close(tree)
	if err := setAttr(tree, true, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		return fmt.Errorf("can't make %q read-only: %w", p, err)
	}
	if err := attachTree(tree, h); err != nil {
		return fmt.Errorf("can't make %q read-only: %w", p, err)
	}
	return nil
}

// maskPaths hides each path: the container's /dev/null over a file, an
// empty read-only tmpfs over a directory. Missing paths are skipped.
func maskPaths(paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	null, err := openDevNull()
	if err != nil {
		return err
	}
	defer null.Close()
	for _, p := range paths {
		if err := maskPath(p, null); err != nil {
			return fmt.Errorf("can't mask path %q: %w", p, err)
		}
	}
	return nil
}

func maskPath(p string, null *os.File) error {
	h, err := openNoMagic(p, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer h.Close()
	dir, err := isDirHandle(h)
	if err != nil {
		return err
	}
	var tree int
	if dir {
		tree, err = emptyReadonlyTmpfs()
	} else {
		tree, err = cloneTree(int(null.Fd()), "", false)
	}
	if err != nil {
		return err
	}
	defer unix.Close(tree)
	return attachTree(tree, h)
}

// emptyReadonlyTmpfs returns a detached, read-only, empty tmpfs mount.
func emptyReadonlyTmpfs() (int, error) {
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen tmpfs: %w", err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigSetString(fsfd, "source", "tmpfs"); err != nil {
		return -1, fmt.Errorf("fsconfig: %w", err)
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("fsconfig create: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsmount: %w", err)
	}
	return mfd, nil
}

// openDevNull opens the container's /dev/null and checks that it really is
// the null device: an image could have replaced it with a symlink or a file
// to make masking expose what it should hide (CVE-2025-31133).
func openDevNull() (*os.File, error) {
	f, err := openNoMagic("/dev/null", unix.O_NOFOLLOW)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, err
	}
	if !isDevNull(&st) {
		f.Close()
		return nil, errors.New("/dev/null is not the null device (1:3): refusing to use it for masking")
	}
	return f, nil
}
