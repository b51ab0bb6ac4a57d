package rootfs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

type mounter struct {
	o    *Options
	root *os.File // O_PATH handle on the rootfs, opened lazily
}

func (m *mounter) rootHandle() (*os.File, error) {
	if m.root == nil {
		f, err := os.OpenFile(m.o.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		m.root = f
	}
	return m.root, nil
}

// setupDev says whether we populate /dev: unless the spec bind-mounts a
// /dev of its own, as runc decides.
func (m *mounter) setupDev() bool {
	for _, mnt := range m.o.Spec.Mounts {
		if filepath.Clean("/"+mnt.Destination) == "/dev" && isBind(&mnt) {
			return false
		}
	}
	return true
}

var propagationFlags = map[string]int{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// mountFlags are the options that are mount(2) flags; clear means the
// option removes the flag.
var mountFlags = map[string]struct {
	clear bool
	flag  int
}{
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"bind":          {false, unix.MS_BIND},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"mand":          {false, unix.MS_MANDLOCK},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"nomand":        {true, unix.MS_MANDLOCK},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"remount":       {false, unix.MS_REMOUNT},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"silent":        {false, unix.MS_SILENT},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

type parsedOptions struct {
	flags       int
	propagation []int
	data        []string
}

func parseOptions(opts []string) parsedOptions {
	var p parsedOptions
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				p.flags &^= f.flag
			} else {
				p.flags |= f.flag
			}
			continue
		}
		if f, ok := propagationFlags[o]; ok {
			p.propagation = append(p.propagation, f)
			continue
		}
		// Recursive attributes (rro, ...) and idmap are not supported yet;
		// everything else is filesystem data.
		p.data = append(p.data, o)
	}
	return p
}

func isBind(m *specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

func hasOption(opts []string, want string) bool {
	for _, o := range opts {
		if o == want {
			return true
		}
	}
	return false
}

// mount performs one config mount. The destination is created and opened
// inside the rootfs without following any symlink out of it, and the mount
// is made onto that handle.
func (m *mounter) mount(mnt *specs.Mount) error {
	dest := filepath.Clean("/" + mnt.Destination)
	wrap := func(err error) error {
		return fmt.Errorf("error mounting %q to rootfs at %q: %w", mnt.Source, mnt.Destination, err)
	}
	opts := parseOptions(mnt.Options)
	bind := isBind(mnt)
	source := mnt.Source
	if bind {
		if !filepath.IsAbs(source) {
			// Relative bind sources are relative to the bundle (our cwd).
			abs, err := filepath.Abs(source)
			if err != nil {
				return wrap(err)
			}
			source = abs
		}
		if _, err := os.Stat(source); err != nil {
			return wrap(err)
		}
	}
	if mnt.Type == "cgroup" && !bind {
		return m.mountCgroup(mnt, dest, opts)
	}
	target, err := m.prepareTarget(dest, source, bind)
	if err != nil {
		return wrap(err)
	}
	defer target.Close()
	tpath := fdPath(int(target.Fd()))
	data := strings.Join(opts.data, ",")
	if bind {
		if err := unix.Mount(source, tpath, "", uintptr(opts.flags&(unix.MS_BIND|unix.MS_REC)), ""); err != nil {
			return wrap(err)
		}
		// Flags other than bind/rec need a remount of the new mount.
		if rest := opts.flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT); rest != 0 {
			if err := m.remountBind(dest, rest); err != nil {
				return wrap(err)
			}
		}
	} else {
		typ := mnt.Type
		if typ == "" {
			typ = source
		}
		if err := unix.Mount(source, tpath, typ, uintptr(opts.flags), data); err != nil {
			// In a user namespace without its own network namespace, sysfs
			// cannot be mounted: bind the host's, as runc does.
			if typ == "sysfs" && errors.Is(err, unix.EPERM) && m.o.InUserNS {
				if err2 := unix.Mount("/sys", tpath, "", unix.MS_BIND|unix.MS_REC, ""); err2 == nil {
					return m.remountBind(dest, opts.flags|unix.MS_RDONLY)
				}
			}
			return wrap(err)
		}
	}
	if len(opts.propagation) > 0 {
		// Re-resolve: the old handle is the directory under the new mount.
		mounted, err := openInRoot(m.o.Rootfs, dest)
		if err != nil {
			return wrap(err)
		}
		defer mounted.Close()
		for _, p := range opts.propagation {
			if err := unix.Mount("", fdPath(int(mounted.Fd())), "", uintptr(p), ""); err != nil {
				return wrap(fmt.Errorf("set propagation: %w", err))
			}
		}
	}
	return nil
}

// remountBind applies flags to a bind mount at dest (in the rootfs), keeping
// flags the kernel locks in a user namespace.
func (m *mounter) remountBind(dest string, flags int) error {
	target, err := openInRoot(m.o.Rootfs, dest)
	if err != nil {
		return err
	}
	defer target.Close()
	tpath := fdPath(int(target.Fd()))
	if m.o.InUserNS {
		var st unix.Statfs_t
		if err := unix.Statfs(tpath, &st); err == nil {
			flags |= int(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RDONLY)
		}
	}
	return unix.Mount("", tpath, "", uintptr(flags|unix.MS_BIND|unix.MS_REMOUNT), "")
}

// prepareTarget creates the mount point inside the rootfs (a directory, or an
// empty file when binding a non-directory) and returns an O_PATH handle.
func (m *mounter) prepareTarget(dest, source string, bind bool) (*os.File, error) {
	root, err := m.rootHandle()
	if err != nil {
		return nil, err
	}
	wantFile := false
	if bind {
		st, err := os.Stat(source)
		if err != nil {
			return nil, err
		}
		wantFile = !st.IsDir()
	}
	if !wantFile {
		return mkdirInRoot(root, dest, 0o755)
	}
	parent, err := mkdirInRoot(root, filepath.Dir(dest), 0o755)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	name := filepath.Base(dest)
	fd, err := unix.Openat(int(parent.Fd()), name, unix.O_CREAT|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil && !errors.Is(err, unix.EISDIR) {
		if errors.Is(err, unix.ELOOP) {
			// A symlink at the destination: resolve it inside the root.
			return openInRoot(m.o.Rootfs, dest)
		}
		return nil, err
	}
	if err == nil {
		unix.Close(fd)
	}
	return openInRoot(m.o.Rootfs, dest)
}

// mountCgroup mounts the cgroup hierarchy view at dest: on a pure v2 host a
// cgroup2 mount (the namespace's root when the container has a cgroup
// namespace); on v1/hybrid a tmpfs with one mount per hierarchy.
func (m *mounter) mountCgroup(mnt *specs.Mount, dest string, opts parsedOptions) error {
	wrap := func(err error) error {
		return fmt.Errorf("error mounting %q to rootfs at %q: %w", mnt.Source, mnt.Destination, err)
	}
	root, err := m.rootHandle()
	if err != nil {
		return wrap(err)
	}
	target, err := mkdirInRoot(root, dest, 0o755)
	if err != nil {
		return wrap(err)
	}
	defer target.Close()
	flags := opts.flags &^ (unix.MS_BIND | unix.MS_REC)
	var fs unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &fs); err == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC {
		if err := unix.Mount("cgroup2", fdPath(int(target.Fd())), "cgroup2", uintptr(flags), ""); err != nil {
			// Without a cgroup namespace of our own (or permission), bind the
			// container's own cgroup directory instead.
			own, perr := ownCgroup("")
			if perr != nil {
				return wrap(err)
			}
			if err := unix.Mount("/sys/fs/cgroup"+own, fdPath(int(target.Fd())), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
				return wrap(err)
			}
			return m.remountBind(dest, flags)
		}
		return nil
	}
	if err := unix.Mount("tmpfs", fdPath(int(target.Fd())), "tmpfs", uintptr(flags&^unix.MS_RDONLY), "mode=755"); err != nil {
		return wrap(err)
	}
	hierarchies, err := v1Hierarchies()
	if err != nil {
		return wrap(err)
	}
	for _, h := range hierarchies {
		sub, err := mkdirInRoot(root, filepath.Join(dest, h.name), 0o755)
		if err != nil {
			return wrap(err)
		}
		own, err := ownCgroup(h.key)
		if err == nil {
			err = unix.Mount(h.mountpoint+own, fdPath(int(sub.Fd())), "", unix.MS_BIND|unix.MS_REC, "")
		}
		sub.Close()
		if err != nil {
			return wrap(fmt.Errorf("cgroup %s: %w", h.name, err))
		}
		if err := m.remountBind(filepath.Join(dest, h.name), flags|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC); err != nil {
			return wrap(err)
		}
		// cpu,cpuacct is also reachable as cpu and cpuacct.
		if parts := strings.Split(h.name, ","); len(parts) > 1 {
			for _, p := range parts {
				link := filepath.Join(m.o.Rootfs, dest, p)
				if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
					os.Symlink(h.name, link)
				}
			}
		}
	}
	if flags&unix.MS_RDONLY != 0 {
		return m.remountBind(dest, flags|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)
	}
	return nil
}

type hierarchy struct {
	name       string // directory name under /sys/fs/cgroup (cpu,cpuacct)
	key        string // controller key in /proc/self/cgroup ("" for v2)
	mountpoint string
}

// v1Hierarchies lists the host's cgroup mounts (v1 controllers and a hybrid
// unified mount) from our mountinfo.
func v1Hierarchies() ([]hierarchy, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []hierarchy
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, fld := range fields {
			if fld == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+4 {
			continue
		}
		mp, fstype, super := fields[4], fields[sep+1], fields[sep+3]
		if !strings.HasPrefix(mp, "/sys/fs/cgroup/") || seen[mp] {
			continue
		}
		name := strings.TrimPrefix(mp, "/sys/fs/cgroup/")
		switch fstype {
		case "cgroup":
			var ctrls []string
			for _, o := range strings.Split(super, ",") {
				if o == "rw" || o == "ro" || strings.HasPrefix(o, "release_agent") || o == "clone_children" || o == "xattr" || o == "noprefix" {
					continue
				}
				ctrls = append(ctrls, o)
			}
			seen[mp] = true
			out = append(out, hierarchy{name: name, key: strings.Join(ctrls, ","), mountpoint: mp})
		case "cgroup2":
			seen[mp] = true
			out = append(out, hierarchy{name: name, key: "", mountpoint: mp})
		}
	}
	return out, sc.Err()
}

// ownCgroup returns our cgroup path in the hierarchy with the given
// controller key ("" for the unified one) from /proc/self/cgroup.
func ownCgroup(key string) (string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == key {
			return parts[2], nil
		}
		// The key order in mountinfo may differ from /proc/self/cgroup.
		if key != "" && sameSet(parts[1], key) {
			return parts[2], nil
		}
	}
	return "", fmt.Errorf("no cgroup %q in /proc/self/cgroup", key)
}

func sameSet(a, b string) bool {
	as, bs := strings.Split(a, ","), strings.Split(b, ",")
	if len(as) != len(bs) {
		return false
	}
	m := map[string]bool{}
	for _, x := range as {
		m[x] = true
	}
	for _, x := range bs {
		if !m[x] {
			return false
		}
	}
	return true
}
