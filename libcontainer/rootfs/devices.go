package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func devPtr(major, minor int64) *specs.LinuxDevice {
	mode := os.FileMode(0o666)
	zero := uint32(0)
	return &specs.LinuxDevice{Type: "c", Major: major, Minor: minor, FileMode: &mode, UID: &zero, GID: &zero}
}

// defaultDevices are the nodes every container gets (same set as runc).
func defaultDevices() []specs.LinuxDevice {
	devs := []struct {
		path         string
		major, minor int64
	}{
		{"/dev/null", 1, 3}, {"/dev/zero", 1, 5}, {"/dev/full", 1, 7},
		{"/dev/tty", 5, 0}, {"/dev/urandom", 1, 9}, {"/dev/random", 1, 8},
	}
	var out []specs.LinuxDevice
	for _, d := range devs {
		ld := devPtr(d.major, d.minor)
		ld.Path = d.path
		out = append(out, *ld)
	}
	return out
}

// needsDevSetup is runc's rule: /dev is populated unless the spec
// bind-mounts it from somewhere (then it is the user's /dev as is).
func needsDevSetup(spec *specs.Spec) bool {
	for _, m := range spec.Mounts {
		if cleanDest(m.Destination) != "/dev" {
			continue
		}
		if m.Type == "bind" {
			return false
		}
		for _, o := range m.Options {
			if o == "bind" || o == "rbind" {
				return false
			}
		}
	}
	return true
}

// allDevices is the spec's devices plus the defaults it does not override.
func allDevices(spec *specs.Spec) []specs.LinuxDevice {
	var devs []specs.LinuxDevice
	seen := map[string]bool{}
	if spec.Linux != nil {
		for _, d := range spec.Linux.Devices {
			devs = append(devs, d)
			seen[cleanDest(d.Path)] = true
		}
	}
	for _, d := range defaultDevices() {
		if !seen[d.Path] {
			devs = append(devs, d)
		}
	}
	return devs
}

func (s *setup) setupDev() error {
	err := withUmask(0, func() error {
		for _, d := range allDevices(s.opts.Spec) {
			if err := s.createDevice(&d); err != nil {
				return fmt.Errorf("error creating device %q: %w", d.Path, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	dev, err := pathrs.MkdirAllHandle(s.root, "/dev", 0o755)
	if err != nil {
		return fmt.Errorf("error setting up /dev: %w", err)
	}
	defer dev.Close()
	dfd := int(dev.Fd())
	// /dev/ptmx must be the devpts instance's ptmx, not the host's.
	if err := unix.Unlinkat(dfd, "ptmx", 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("error removing /dev/ptmx: %w", err)
	}
	links := [][2]string{
		{"pts/ptmx", "ptmx"},
		{"/proc/self/fd", "fd"},
		{"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"},
	}
	// kcore exists only with CONFIG_PROC_KCORE.
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "core"})
	}
	for _, l := range links {
		if err := unix.Symlinkat(l[0], dfd, l[1]); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("error creating symlink /dev/%s: %w", l[1], err)
		}
	}
	return nil
}

func deviceMode(d *specs.LinuxDevice) (uint32, error) {
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(d.FileMode.Perm())
	}
	switch d.Type {
	case "c", "u":
		return perm | unix.S_IFCHR, nil
	case "b":
		return perm | unix.S_IFBLK, nil
	case "p":
		return perm | unix.S_IFIFO, nil
	}
	return 0, fmt.Errorf("unknown device type %q", d.Type)
}

// createDevice makes one node inside the rootfs: mknod with owner and mode,
// or, where mknod is not allowed (user namespace), an empty file with the
// host's node bind-mounted over it.
func (s *setup) createDevice(d *specs.LinuxDevice) error {
	p := cleanDest(d.Path)
	if p == "/" {
		return errors.New("device path is the rootfs itself")
	}
	mode, err := deviceMode(d)
	if err != nil {
		return err
	}
	dir, err := pathrs.MkdirAllHandle(s.root, filepath.Dir(p), 0o755)
	if err != nil {
		return err
	}
	defer dir.Close()
	name := filepath.Base(p)
	if s.opts.InUserNS {
		return bindDevice(dir, name, p)
	}
	dev := int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))
	err = unix.Mknodat(int(dir.Fd()), name, mode, dev)
	switch {
	case errors.Is(err, unix.EEXIST):
		return nil // the image (or an earlier mount) already has it
	case errors.Is(err, unix.EPERM):
		return bindDevice(dir, name, p)
	case err != nil:
		return fmt.Errorf("mknod: %w", err)
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if err := unix.Fchownat(int(dir.Fd()), name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	return nil
}

// bindDevice bind-mounts the host node hostPath onto dir/name.
func bindDevice(dir *os.File, name, hostPath string) error {
	target, err := createFileAt(dir, name, 0o000)
	if err != nil {
		return err
	}
	defer target.Close()
	tree, err := cloneTree(unix.AT_FDCWD, hostPath, false)
	if err != nil {
		return err
	}
	defer unix.Close(tree)
	return attachTree(tree, target)
}

// reopenDevNull points stdio fds that are the host's /dev/null at the
// container's, so nothing keeps a handle on a host device node.
func reopenDevNull() error {
	var nullSt unix.Stat_t
	null, err := os.OpenFile("/dev/null", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	if err := unix.Fstat(int(null.Fd()), &nullSt); err != nil {
		return err
	}
	if !isDevNull(&nullSt) {
		return errors.New("/dev/null is not the null device")
	}
	for fd := 0; fd < 3; fd++ {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			continue
		}
		if isDevNull(&st) && (st.Dev != nullSt.Dev || st.Ino != nullSt.Ino) {
			if err := unix.Dup3(int(null.Fd()), fd, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

func isDevNull(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && unix.Major(st.Rdev) == 1 && unix.Minor(st.Rdev) == 3
}
