package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setup is the state of one Prepare run.
type setup struct {
	opts   *Options
	rootfs string
	root   *os.File // O_PATH handle of the rootfs bind mount
}

// cleanDest makes a spec destination absolute and clean; relative
// destinations (old specs) are relative to the container's "/".
func cleanDest(d string) string {
	return filepath.Clean("/" + d)
}

func mountError(m *specs.Mount, err error) error {
	src := m.Source
	if src == "" {
		src = m.Type
	}
	return fmt.Errorf("error mounting %q to rootfs at %q: %w", src, m.Destination, err)
}

func isBindMount(m *specs.Mount, o *mountOpts) bool {
	return m.Type == "bind" || o.flags&unix.MS_BIND != 0
}

// containerPath returns where handle h lives inside the rootfs ("/proc",
// "/dev", ...), found from the kernel's idea of the handle's path, so
// symlinks in the image cannot fool the checks that use it.
func (s *setup) containerPath(h *os.File) (string, error) {
	p, err := procfs.ProcSelfFdReadlink(h)
	if err != nil {
		return "", err
	}
	if p == s.rootfs {
		return "/", nil
	}
	rel, ok := strings.CutPrefix(p, s.rootfs+"/")
	if !ok {
		return "", fmt.Errorf("%q resolved outside the rootfs (%q)", h.Name(), p)
	}
	return "/" + rel, nil
}

func (s *setup) mountOne(m *specs.Mount) error {
	o, err := parseMountOptions(m.Options)
	if err != nil {
		return mountError(m, err)
	}
	dest := cleanDest(m.Destination)
	if m.Type == "proc" || m.Type == "sysfs" || dest == "/proc" || dest == "/sys" {
		if err := s.checkPlainDir(dest, m.Type); err != nil {
			return mountError(m, err)
		}
	}
	switch {
	case isBindMount(m, o):
		err = s.mountBind(m, dest, o)
	case m.Type == "cgroup" || m.Type == "cgroup2":
		err = s.mountCgroup(m, dest, o)
	default:
		err = s.mountFS(m, dest, o)
		if err != nil && m.Type == "sysfs" && errors.Is(err, unix.EPERM) {
			// Without a new network namespace a user namespace cannot
			// mount sysfs; like runc, fall back to binding the host's.
			bind := *m
			bind.Source, bind.Type = "/sys", "bind"
			bo := *o
			bo.flags |= unix.MS_BIND | unix.MS_REC
			err = s.mountBind(&bind, dest, &bo)
		}
	}
	if err != nil {
		return mountError(m, err)
	}
	return nil
}

// checkPlainDir refuses to mount proc or sysfs through a symlink or onto a
// file: these are the classic ways to trick a runtime into masking or
// exposing the wrong place.
func (s *setup) checkPlainDir(dest, fstype string) error {
	parent, err := openInRoot(s.root, filepath.Dir(dest))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	defer parent.Close()
	var st unix.Stat_t
	err = unix.Fstatat(int(parent.Fd()), filepath.Base(dest), &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if fstype == "" || fstype == "bind" {
			fstype = filepath.Base(dest)
		}
		return fmt.Errorf("filesystem %q must be mounted on ordinary directory", fstype)
	}
	return nil
}

// lxcfs-style bind mounts that may cover single files under /proc.
var allowedProcMounts = []string{
	"/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat",
	"/proc/swaps", "/proc/uptime", "/proc/loadavg", "/proc/slabinfo",
	"/proc/pressure/cpu", "/proc/pressure/io", "/proc/pressure/memory",
	"/proc/net/dev", "/proc/sys/kernel/ns_last_pid",
}

// checkProcDest stops mounts from covering parts of the container's /proc
// (e.g. hiding /proc/self/attr from LSM checks); /proc itself may only get
// a procfs.
func checkProcDest(cpath string, m *specs.Mount, isBind bool) error {
	if cpath != "/proc" && !strings.HasPrefix(cpath, "/proc/") {
		return nil
	}
	if cpath == "/proc" {
		if !isBind {
			if m.Type == "proc" {
				return nil
			}
			return fmt.Errorf("%q cannot be mounted because it is not of type proc", cpath)
		}
		var sfs unix.Statfs_t
		if err := unix.Statfs(m.Source, &sfs); err == nil && sfs.Type == unix.PROC_SUPER_MAGIC {
			return nil
		}
		return fmt.Errorf("%q cannot be mounted because it is not of type proc", cpath)
	}
	for _, ok := range allowedProcMounts {
		if cpath == ok {
			return nil
		}
	}
	return fmt.Errorf("%q cannot be mounted because it is inside /proc", cpath)
}

func (s *setup) bindSource(src string) string {
	if filepath.IsAbs(src) {
		return src
	}
	// Relative bind sources are relative to the bundle, which is the
	// init's working directory until the pivot.
	if wd, err := os.Getwd(); err == nil {
		return filepath.Join(wd, src)
	}
	return src
}

// mountBind clones the source tree (open_tree), applies the flags to the
// detached copy and attaches it on the safely resolved destination. No
// window exists where the mount is visible with the wrong flags.
func (s *setup) mountBind(m *specs.Mount, dest string, o *mountOpts) error {
	src := s.bindSource(m.Source)
	tree, err := cloneTree(unix.AT_FDCWD, src, o.flags&unix.MS_REC != 0)
	if err != nil {
		return err
	}
	defer unix.Close(tree)
	var st unix.Stat_t
	if err := unix.Fstat(tree, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: src, Err: err}
	}
	target, err := openOrCreate(s.root, dest, st.Mode&unix.S_IFMT != unix.S_IFDIR)
	if err != nil {
		return err
	}
	defer target.Close()
	cpath, err := s.containerPath(target)
	if err != nil {
		return err
	}
	if err := checkProcDest(cpath, m, true); err != nil {
		return err
	}
	if attr := o.bindAttr(); attr.Attr_set != 0 || attr.Attr_clr != 0 {
		// Like runc's remount, the per-mount flags apply to the top mount.
		if err := setAttr(tree, false, &attr); err != nil {
			return err
		}
	}
	if o.hasRecAttr() {
		if err := setAttr(tree, true, &o.recAttr); err != nil {
			return err
		}
	}
	if err := attachTree(tree, target); err != nil {
		return err
	}
	// The tree fd now names the attached mount: set its propagation there.
	for _, p := range o.propagation {
		attr := unix.MountAttr{Propagation: uint64(p &^ unix.MS_REC)}
		if err := setAttr(tree, p&unix.MS_REC != 0, &attr); err != nil {
			return err
		}
	}
	return nil
}

// mountFS mounts a new filesystem instance (proc, tmpfs, devpts, mqueue,
// anything not special-cased) with mount(2) onto the handle's fd path.
func (s *setup) mountFS(m *specs.Mount, dest string, o *mountOpts) error {
	target, err := openOrCreate(s.root, dest, false)
	if err != nil {
		return err
	}
	defer target.Close()
	cpath, err := s.containerPath(target)
	if err != nil {
		return err
	}
	if err := checkProcDest(cpath, m, false); err != nil {
		return err
	}
	flags := o.flags &^ unix.MS_REMOUNT
	// /dev must stay writable until the devices are created; Finalize makes
	// it read-only afterwards.
	if cpath == "/dev" {
		flags &^= unix.MS_RDONLY
	}
	if o.tmpcopyup && m.Type == "tmpfs" {
		return s.mountTmpfsCopyUp(m, dest, target, flags, o)
	}
	if err := mountOnHandle(m.Source, target, m.Type, flags, o.dataString()); err != nil {
		return err
	}
	return s.applyAfterMount(dest, target, o)
}

// applyAfterMount applies propagation and recursive attributes to the mount
// just made on old's path.
func (s *setup) applyAfterMount(dest string, old *os.File, o *mountOpts) error {
	if len(o.propagation) == 0 && !o.hasRecAttr() {
		return nil
	}
	h, err := reopenMounted(s.root, dest, old)
	if err != nil {
		return err
	}
	defer h.Close()
	if o.hasRecAttr() {
		if err := setAttr(int(h.Fd()), true, &o.recAttr); err != nil {
			return err
		}
	}
	for _, p := range o.propagation {
		attr := unix.MountAttr{Propagation: uint64(p &^ unix.MS_REC)}
		if err := setAttr(int(h.Fd()), p&unix.MS_REC != 0, &attr); err != nil {
			return err
		}
	}
	return nil
}

// mountTmpfsCopyUp implements runc's "tmpcopyup": the tmpfs starts with a
// copy of what the image had at dest. The tmpfs is built detached (fsmount),
// filled, then attached.
func (s *setup) mountTmpfsCopyUp(m *specs.Mount, dest string, target *os.File, flags uintptr, o *mountOpts) error {
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen tmpfs: %w", err)
	}
	defer unix.Close(fsfd)
	if m.Source != "" {
		if err := unix.FsconfigSetString(fsfd, "source", m.Source); err != nil {
			return fmt.Errorf("tmpfs source: %w", err)
		}
	}
	for _, d := range o.data {
		k, v, hasV := strings.Cut(d, "=")
		if hasV {
			err = unix.FsconfigSetString(fsfd, k, v)
		} else {
			err = unix.FsconfigSetFlag(fsfd, k)
		}
		if err != nil {
			return fmt.Errorf("tmpfs option %q: %w", d, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("fsconfig create: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fsmount: %w", err)
	}
	defer unix.Close(mfd)
	srcDir, err := reopenDir(target)
	if err != nil {
		return err
	}
	defer srcDir.Close()
	if err := copyTree(int(srcDir.Fd()), mfd); err != nil {
		return fmt.Errorf("tmpcopyup: %w", err)
	}
	withFlags := *o
	withFlags.flags = flags
	attr := withFlags.bindAttr()
	if attr.Attr_set != 0 || attr.Attr_clr != 0 {
		if err := setAttr(mfd, false, &attr); err != nil {
			return err
		}
	}
	if err := attachTree(mfd, target); err != nil {
		return err
	}
	return s.applyAfterMount(dest, target, o)
}

// reopenDir upgrades an O_PATH directory handle to a readable one.
func reopenDir(h *os.File) (*os.File, error) {
	fd, err := unix.Openat(int(h.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: h.Name(), Err: err}
	}
	return os.NewFile(uintptr(fd), h.Name()), nil
}

// copyTree copies directories, regular files and symlinks from srcfd into
// dstfd, keeping modes and owners. Everything is *at() with O_NOFOLLOW.
func copyTree(srcfd, dstfd int) error {
	// Read the names through a duplicate so closing it leaves srcfd open.
	dup, err := unix.Dup(srcfd)
	if err != nil {
		return err
	}
	src := os.NewFile(uintptr(dup), "src")
	defer src.Close()
	names, err := src.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, name := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(srcfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		perm := st.Mode & 0o7777
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if err := unix.Mkdirat(dstfd, name, perm); err != nil && !errors.Is(err, unix.EEXIST) {
				return err
			}
			sfd, err := unix.Openat(srcfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			dfd, err := unix.Openat(dstfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				unix.Close(sfd)
				return err
			}
			err = copyTree(sfd, dfd)
			unix.Close(sfd)
			unix.Close(dfd)
			if err != nil {
				return err
			}
		case unix.S_IFREG:
			if err := copyFileAt(srcfd, dstfd, name, perm); err != nil {
				return err
			}
		case unix.S_IFLNK:
			buf := make([]byte, unix.PathMax)
			n, err := unix.Readlinkat(srcfd, name, buf)
			if err != nil {
				return err
			}
			if err := unix.Symlinkat(string(buf[:n]), dstfd, name); err != nil {
				return err
			}
		default:
			continue // devices, fifos, sockets are not copied
		}
		if err := unix.Fchownat(dstfd, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			if err := unix.Fchmodat(dstfd, name, perm, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

func copyFileAt(srcfd, dstfd int, name string, perm uint32) error {
	sfd, err := unix.Openat(srcfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	in := os.NewFile(uintptr(sfd), name)
	defer in.Close()
	dfd, err := unix.Openat(dstfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		return err
	}
	out := os.NewFile(uintptr(dfd), name)
	defer out.Close()
	_, err = out.ReadFrom(in)
	return err
}
