package rootfs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mountCgroup gives the container its cgroups: on a cgroup2 host (or when
// asked for cgroup2) a bind of the container's cgroup2 directory, else a
// tmpfs holding a bind of the container's directory in each v1 hierarchy.
//
// Binds rather than fresh cgroup mounts because the init joins its cgroups
// and unshares the cgroup namespace only after the rootfs is built (see
// Options.CgroupFDs): a fresh mount now would show the host's whole tree.
// The bind shows what a cgroup-namespaced mount would: the container's
// cgroup as the root.
func (s *setup) mountCgroup(m *specs.Mount, dest string, o *mountOpts) error {
	var sfs unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &sfs); err != nil {
		return &os.PathError{Op: "statfs", Path: "/sys/fs/cgroup", Err: err}
	}
	dirs, err := s.containerCgroupDirs()
	if err != nil {
		return err
	}
	if m.Type == "cgroup2" || sfs.Type == unix.CGROUP2_SUPER_MAGIC {
		mnt, root, err := cgroup2Mount()
		if err != nil {
			return err
		}
		bind := *m
		bind.Type = "bind"
		bind.Source = dirs.dirIn(mnt, root, "")
		bo := *o
		bo.flags |= unix.MS_BIND | unix.MS_REC
		return s.mountBind(&bind, dest, &bo)
	}
	return s.mountCgroupV1(m, dest, o, dirs)
}

// cgroupDirs locates the container's cgroup directories on the host.
type cgroupDirs struct {
	fromFDs []string          // directories of Options.CgroupFDs
	own     map[string]string // /proc/self/cgroup, when no fds were given
}

func (s *setup) containerCgroupDirs() (*cgroupDirs, error) {
	d := &cgroupDirs{}
	for _, fd := range s.opts.CgroupFDs {
		p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		if err != nil {
			return nil, fmt.Errorf("cgroup fd %d: %w", fd, err)
		}
		d.fromFDs = append(d.fromFDs, filepath.Dir(p))
	}
	if len(d.fromFDs) == 0 {
		own, err := ownCgroups()
		if err != nil {
			return nil, err
		}
		d.own = own
	}
	return d, nil
}

// dirIn returns the container's directory in the hierarchy mounted at mnt
// (mount root root, controllers key), or mnt itself if unknown.
func (d *cgroupDirs) dirIn(mnt, root, key string) string {
	if d.own == nil {
		for _, dir := range d.fromFDs {
			if dir == mnt || strings.HasPrefix(dir, mnt+"/") {
				return dir
			}
		}
		return mnt
	}
	return joinCgroupPath(mnt, root, d.own[key])
}

// cgroupHierarchy is one v1 hierarchy mounted on the host.
type cgroupHierarchy struct {
	mountpoint string // e.g. /sys/fs/cgroup/cpu,cpuacct
	root       string // the mount's root inside the hierarchy
	key        string // sorted controllers ("cpu,cpuacct", "name=systemd")
}

// v1SuperOptions are cgroup v1 mount options that are not controllers.
var v1SuperOptions = map[string]bool{
	"rw": true, "ro": true, "xattr": true, "noprefix": true, "clone_children": true,
	"cpuset_v2_mode": true, "favordynmods": true, "nofavordynmods": true, "none": true,
}

func controllersKey(list []string) string {
	var out []string
	for _, c := range list {
		if c == "" || v1SuperOptions[c] || strings.HasPrefix(c, "release_agent=") {
			continue
		}
		out = append(out, c)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func v1Hierarchies() ([]cgroupHierarchy, error) {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup"))
	if err != nil {
		return nil, err
	}
	var hs []cgroupHierarchy
	seen := map[string]bool{}
	for _, mi := range mounts {
		key := controllersKey(strings.Split(mi.VFSOptions, ","))
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		hs = append(hs, cgroupHierarchy{mountpoint: mi.Mountpoint, root: mi.Root, key: key})
	}
	return hs, nil
}

func cgroup2Mount() (mountpoint, root string, err error) {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup2"))
	if err != nil {
		return "", "", err
	}
	if len(mounts) == 0 {
		return "", "", errors.New("no cgroup2 mount on the host")
	}
	return mounts[0].Mountpoint, mounts[0].Root, nil
}

// ownCgroups maps each hierarchy's controllers key ("" for v2) to this
// process's cgroup path, from /proc/self/cgroup.
func ownCgroups() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		res[controllersKey(strings.Split(parts[1], ","))] = parts[2]
	}
	return res, sc.Err()
}

// joinCgroupPath is the host directory of cgroup path p in a hierarchy
// mounted at mnt whose mount root is root.
func joinCgroupPath(mnt, root, p string) string {
	rel, err := filepath.Rel(root, p)
	if p == "" || err != nil || strings.HasPrefix(rel, "..") {
		return mnt
	}
	return filepath.Join(mnt, rel)
}

// mountCgroupV1 follows runc: a tmpfs at dest, then one directory per
// hierarchy with the container's cgroup bound there; co-mounted controllers
// get symlinks (cpu -> cpu,cpuacct). The tmpfs is made read-only last if the
// mount says ro.
func (s *setup) mountCgroupV1(m *specs.Mount, dest string, o *mountOpts, dirs *cgroupDirs) error {
	hs, err := v1Hierarchies()
	if err != nil {
		return err
	}
	tm := specs.Mount{Source: "tmpfs", Type: "tmpfs", Destination: m.Destination}
	to := &mountOpts{flags: o.flags &^ (unix.MS_RDONLY | unix.MS_BIND | unix.MS_REC), data: []string{"mode=755"}, propagation: o.propagation}
	if err := s.mountFS(&tm, dest, to); err != nil {
		return err
	}
	dir, err := openInRoot(s.root, dest)
	if err != nil {
		return err
	}
	defer dir.Close()
	for _, h := range hs {
		name := filepath.Base(h.mountpoint)
		sm := specs.Mount{Destination: filepath.Join(dest, name), Type: "bind", Source: dirs.dirIn(h.mountpoint, h.root, h.key)}
		so := &mountOpts{flags: o.flags | unix.MS_BIND | unix.MS_REC, cleared: o.cleared}
		if err := s.mountBind(&sm, sm.Destination, so); err != nil {
			return err
		}
		if strings.Contains(name, ",") {
			for _, c := range strings.Split(name, ",") {
				if err := unix.Symlinkat(name, int(dir.Fd()), c); err != nil && !errors.Is(err, unix.EEXIST) {
					return &os.PathError{Op: "symlink", Path: filepath.Join(dest, c), Err: err}
				}
			}
		}
	}
	if o.flags&unix.MS_RDONLY != 0 {
		return setAttr(int(dir.Fd()), false, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
	}
	return nil
}
