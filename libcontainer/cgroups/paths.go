package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// v1Mount is where one v1 hierarchy is mounted.
type v1Mount struct {
	Mountpoint string
	Root       string // the hierarchy path mounted there ("/" unless in a cgroupns or bind mount)
}

// v1Mounts maps each mounted v1 controller (and "name=x" hierarchy) to its
// mount. Co-mounted controllers (cpu,cpuacct) share one mount.
func v1Mounts() (map[string]v1Mount, error) {
	known := map[string]bool{}
	if data, err := os.ReadFile("/proc/cgroups"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
				known[f[0]] = true
			}
		}
	}
	infos, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup"))
	if err != nil {
		return nil, err
	}
	out := map[string]v1Mount{}
	for _, m := range infos {
		for _, opt := range strings.Split(m.VFSOptions, ",") {
			if !known[opt] && !strings.HasPrefix(opt, "name=") {
				continue
			}
			if _, dup := out[opt]; !dup {
				out[opt] = v1Mount{Mountpoint: m.Mountpoint, Root: m.Root}
			}
		}
	}
	return out, nil
}

// v1Paths resolves inner (a cleaned cgroupsPath) for every mounted v1
// hierarchy, and for the unified mount ("" key) on a hybrid host.
func v1Paths(inner string) (map[string]string, error) {
	mounts, err := v1Mounts()
	if err != nil {
		return nil, err
	}
	if len(mounts) == 0 {
		return nil, fmt.Errorf("no cgroup v1 hierarchy is mounted")
	}
	var own map[string]string
	if !filepath.IsAbs(inner) {
		if own, err = ownCgroups(); err != nil {
			return nil, err
		}
	}
	paths := map[string]string{}
	for ctrl, m := range mounts {
		dir, err := joinCgroupPath(m.Mountpoint, m.Root, own[ctrl], inner)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ctrl, err)
		}
		paths[ctrl] = dir
	}
	if isCgroup2(unifiedMount) {
		dir, err := joinCgroupPath(unifiedMount, "/", own[""], inner)
		if err != nil {
			return nil, err
		}
		paths[""] = dir
	}
	return paths, nil
}

// v2Path resolves inner under a cgroup2 mount.
func v2Path(mount, inner string) (string, error) {
	var ownPath string
	if !filepath.IsAbs(inner) {
		own, err := ownCgroups()
		if err != nil {
			return "", err
		}
		ownPath = own[""]
	}
	return joinCgroupPath(mount, "/", ownPath, inner)
}

// joinCgroupPath: an absolute inner is taken from the mount point; a relative
// one from our own cgroup (ownPath, as /proc/self/cgroup shows it, made
// relative to the mounted root).
func joinCgroupPath(mountpoint, mountRoot, ownPath, inner string) (string, error) {
	if filepath.IsAbs(inner) {
		return filepath.Join(mountpoint, inner), nil
	}
	if ownPath == "" {
		return "", fmt.Errorf("cannot resolve relative cgroup path %q: own cgroup unknown", inner)
	}
	rel := ownPath
	if mountRoot != "/" {
		rel = strings.TrimPrefix(ownPath, mountRoot)
	}
	return filepath.Join(mountpoint, rel, inner), nil
}
