package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func defaultDevices() []specs.LinuxDevice {
	mode := os.FileMode(0o666)
	dev := func(path string, major, minor int64) specs.LinuxDevice {
		return specs.LinuxDevice{Path: path, Type: "c", Major: major, Minor: minor, FileMode: &mode, UID: new(uint32), GID: new(uint32)}
	}
	return []specs.LinuxDevice{
		dev("/dev/null", 1, 3),
		dev("/dev/zero", 1, 5),
		dev("/dev/full", 1, 7),
		dev("/dev/random", 1, 8),
		dev("/dev/urandom", 1, 9),
		dev("/dev/tty", 5, 0),
	}
}

// createDevices makes device nodes in the rootfs: mknod, or in a user
// namespace (where mknod is denied) a bind mount of the host's node.
func (m *mounter) createDevices(devs []specs.LinuxDevice) error {
	root, err := m.rootHandle()
	if err != nil {
		return err
	}
	for _, d := range devs {
		if err := m.createDevice(root, d); err != nil {
			return fmt.Errorf("create device %s: %w", d.Path, err)
		}
	}
	return nil
}

func (m *mounter) createDevice(root *os.File, d specs.LinuxDevice) error {
	path := filepath.Clean("/" + d.Path)
	if path == "/dev" || path == "/" {
		return errors.New("invalid device path")
	}
	parent, err := mkdirInRoot(root, filepath.Dir(path), 0o755)
	if err != nil {
		return err
	}
	defer parent.Close()
	name := filepath.Base(path)
	if m.o.InUserNS {
		return bindDevice(parent, name, path)
	}
	var typ uint32
	switch d.Type {
	case "c", "u":
		typ = unix.S_IFCHR
	case "b":
		typ = unix.S_IFBLK
	case "p":
		typ = unix.S_IFIFO
	default:
		return fmt.Errorf("unknown device type %q", d.Type)
	}
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(*d.FileMode) & 0o7777
	}
	// Replace whatever the image has there (file, symlink) with the node.
	unix.Unlinkat(int(parent.Fd()), name, 0)
	old := unix.Umask(0)
	err = unix.Mknodat(int(parent.Fd()), name, typ|perm, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor))))
	unix.Umask(old)
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return bindDevice(parent, name, path)
		}
		return err
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	return unix.Fchownat(int(parent.Fd()), name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
}

// bindDevice bind-mounts the host's node at hostPath over an empty file.
func bindDevice(parent *os.File, name, hostPath string) error {
	fd, err := unix.Openat(int(parent.Fd()), name, unix.O_CREAT|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	unix.Close(fd)
	target, err := unix.Openat(int(parent.Fd()), name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	return unix.Mount(hostPath, fdPath(target), "", unix.MS_BIND, "")
}

// devSymlinks makes the standard /dev links.
func (m *mounter) devSymlinks() error {
	root, err := m.rootHandle()
	if err != nil {
		return err
	}
	dev, err := mkdirInRoot(root, "/dev", 0o755)
	if err != nil {
		return err
	}
	defer dev.Close()
	links := [][2]string{
		{"/proc/self/fd", "fd"},
		{"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"},
	}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "core"})
	}
	// /dev/ptmx must be the container's devpts instance.
	if st, err := unix.Openat(int(dev.Fd()), "pts/ptmx", unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err == nil {
		unix.Close(st)
		unix.Unlinkat(int(dev.Fd()), "ptmx", 0)
		links = append(links, [2]string{"pts/ptmx", "ptmx"})
	}
	for _, l := range links {
		if err := unix.Symlinkat(l[0], int(dev.Fd()), l[1]); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink /dev/%s: %w", l[1], err)
		}
	}
	return nil
}
