// Package cgroups places a container's processes in cgroups and applies
// linux.resources to them. Three layouts are handled:
//
//   - v1: one hierarchy per controller under /sys/fs/cgroup/<ctrl> (the fs
//     driver, fs.go).
//   - hybrid: v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified.
//     Resources go to v1; the container also gets a directory in the unified
//     tree (Paths key "") so it is tracked there, and controllers that exist
//     only in the unified tree (hugetlb on some hosts) are set there.
//   - v2: the unified hierarchy at /sys/fs/cgroup (the fs2 driver, fs2.go).
//
// The systemd driver is not implemented: New refuses it with
// ErrSystemdNotSupported.
package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Manager controls the cgroup(s) of one container.
type Manager interface {
	// Apply creates the cgroup(s) and moves pid into them (before the
	// process enters its namespaces). pid <= 0 only creates them. Calling
	// it again on an existing cgroup just adds pid: that is how `exec`
	// processes join.
	Apply(pid int) error
	// Set applies linux.resources (also used by `update`). Nil fields are
	// left untouched.
	Set(r *specs.LinuxResources) error
	// Paths maps a controller to its absolute directory; the key "" is the
	// unified (cgroup2) directory on v2 and hybrid hosts.
	Paths() map[string]string
	// Freeze pauses (true) or resumes (false) every process and waits until
	// the kernel reports the new state.
	Freeze(frozen bool) error
	IsFrozen() (bool, error)
	// GetPids lists every process in the cgroup and its descendants.
	GetPids() ([]int, error)
	Stats() (*Stats, error)
	// OOMKillCount is how many processes the OOM killer killed in the cgroup.
	OOMKillCount() (uint64, error)
	// Destroy removes the directories, child cgroups first. Processes must
	// be gone already; it retries briefly while the kernel reaps them.
	Destroy() error
}

// ErrSystemdNotSupported is returned by New for the systemd driver.
var ErrSystemdNotSupported = errors.New("systemd cgroup driver not supported here")

// Where cgroupfs lives; tests and the VM harness may point these elsewhere.
const (
	cgroupRoot   = "/sys/fs/cgroup"
	unifiedMount = "/sys/fs/cgroup/unified"
)

// Mode reports the host's cgroup layout: "v1", "hybrid" or "v2".
func Mode() string {
	if isCgroup2(cgroupRoot) {
		return "v2"
	}
	if isCgroup2(unifiedMount) {
		return "hybrid"
	}
	return "v1"
}

func isCgroup2(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// DefaultPath is where a container's cgroup goes when linux.cgroupsPath is
// empty.
func DefaultPath(id string) string { return "/rootlet/" + id }

// New makes a manager for container id. cgroupsPath is linux.cgroupsPath: an
// absolute path is relative to the hierarchy root, a relative one to the
// runtime's own cgroup, "" means DefaultPath(id). With rootless set,
// permission errors while creating or joining cgroups are warnings; Set still
// fails when a requested limit cannot be written.
func New(id, cgroupsPath string, systemd, rootless bool) (Manager, error) {
	if systemd {
		// A transient scope needs systemd over D-Bus; this runtime has no
		// D-Bus client, and hosts without systemd as PID 1 cannot serve it.
		return nil, ErrSystemdNotSupported
	}
	if cgroupsPath == "" {
		cgroupsPath = DefaultPath(id)
	}
	// Like runc's fs driver, a "slice:prefix:name" path (the systemd
	// driver's syntax) is taken literally here.
	inner := cleanPath(cgroupsPath)
	if inner == "/" || inner == "" {
		return nil, fmt.Errorf("invalid cgroupsPath %q: the root cgroup cannot be a container's cgroup", cgroupsPath)
	}
	switch Mode() {
	case "v2":
		dir, err := v2Path(cgroupRoot, inner)
		if err != nil {
			return nil, err
		}
		return &fs2Manager{mount: cgroupRoot, dir: dir, rootless: rootless}, nil
	default:
		paths, err := v1Paths(inner)
		if err != nil {
			return nil, err
		}
		return &fsManager{paths: paths, rootless: rootless}, nil
	}
}

// Load re-creates a manager from the Paths() of an earlier one.
func Load(paths map[string]string, rootless bool) Manager {
	if dir, ok := paths[""]; ok && len(paths) == 1 && Mode() == "v2" {
		return &fs2Manager{mount: cgroupRoot, dir: dir, rootless: rootless}
	}
	cp := make(map[string]string, len(paths))
	for k, v := range paths {
		cp[k] = v
	}
	return &fsManager{paths: cp, rootless: rootless}
}

// cleanPath cleans p; a relative path stays relative but cannot climb out
// with "..".
func cleanPath(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return strings.TrimPrefix(filepath.Clean("/"+p), "/")
}

// ownCgroups parses /proc/self/cgroup: controller (or "name=x", or "" for
// the unified line) -> path.
func ownCgroups() (map[string]string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	return parseCgroupFile(string(data)), nil
}

func parseCgroupFile(data string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(data, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out
}

func isPermission(err error) bool {
	return errors.Is(err, os.ErrPermission) || errors.Is(err, unix.EROFS)
}
