package cgroups

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
)

// fs2Manager drives a cgroup in a cgroup2 (unified) hierarchy.
type fs2Manager struct {
	mount    string // where the hierarchy is mounted (/sys/fs/cgroup)
	dir      string // the container's cgroup
	rootless bool
}

func (m *fs2Manager) Paths() map[string]string { return map[string]string{"": m.dir} }

func (m *fs2Manager) Apply(pid int) error {
	if err := os.MkdirAll(m.dir, 0o755); err != nil {
		if m.rootless && isPermission(err) {
			logrus.Warnf("cgroup %s: %v (rootless: continuing without a cgroup)", m.dir, err)
			return nil
		}
		return fmt.Errorf("create cgroup: %w", err)
	}
	enableControllers(m.mount, m.dir)
	if pid > 0 {
		if err := writeFile(m.dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			if m.rootless && isPermission(err) {
				logrus.Warnf("join cgroup: %v (rootless: continuing)", err)
				return nil
			}
			return fmt.Errorf("join cgroup: %w", err)
		}
	}
	return nil
}

// enableControllers turns on, in every ancestor from the mount down to the
// parent of dir, each controller that ancestor has, so dir gets the
// controllers' files. Failures are logged, not returned: a controller may be
// unavailable (e.g. cpuset in a threaded subtree, or an ancestor with
// processes of its own), and Set reports the missing file if it is needed.
func enableControllers(mount, dir string) {
	rel, err := filepath.Rel(mount, filepath.Dir(dir))
	if err != nil || strings.HasPrefix(rel, "..") {
		return
	}
	level := mount
	parts := []string{}
	if rel != "." {
		parts = strings.Split(rel, "/")
	}
	for i := 0; ; i++ {
		avail, _ := readFile(level, "cgroup.controllers")
		enabled, _ := readFile(level, "cgroup.subtree_control")
		on := map[string]bool{}
		for _, c := range strings.Fields(enabled) {
			on[c] = true
		}
		for _, c := range strings.Fields(avail) {
			if !on[c] {
				if err := writeFile(level, "cgroup.subtree_control", "+"+c); err != nil {
					logrus.Debugf("enable controller %s in %s: %v", c, level, err)
				}
			}
		}
		if i == len(parts) {
			return
		}
		level = filepath.Join(level, parts[i])
	}
}

func (m *fs2Manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if _, err := os.Stat(m.dir); err != nil {
		if m.rootless && errors.Is(err, os.ErrNotExist) && resourcesEmpty(r) {
			return nil
		}
		return fmt.Errorf("cannot set cgroup limits: %w", err)
	}
	plan, err := v2Plan(r)
	if err != nil {
		return err
	}
	if mem := r.Memory; mem != nil && mem.CheckBeforeUpdate != nil && *mem.CheckBeforeUpdate && mem.Limit != nil && *mem.Limit > 0 {
		if cur, err := readUint(m.dir, "memory.current"); err == nil && uint64(*mem.Limit) < cur {
			return fmt.Errorf("memory limit %d is below current usage %d", *mem.Limit, cur)
		}
	}
	if err := runPlan(m.dir, plan); err != nil {
		return err
	}
	if r.Devices != nil {
		if m.rootless {
			// Unprivileged users cannot attach BPF programs; a user
			// namespace cannot create device nodes anyway.
			return nil
		}
		if err := attachDeviceFilter(m.dir, r.Devices); err != nil {
			return err
		}
	}
	return nil
}

// runPlan performs the writes in order.
func runPlan(dir string, plan []fileWrite) error {
	for _, w := range plan {
		file, value := w.File, w.Value
		if _, err := os.Stat(filepath.Join(dir, file)); err != nil && errors.Is(err, os.ErrNotExist) {
			switch {
			case w.AltFile != "":
				file, value = w.AltFile, w.AltValue
			case w.Optional:
				continue
			default:
				return fmt.Errorf("cannot set %s: the controller is not available in %s", file, dir)
			}
		}
		if err := writeFile(dir, file, value); err != nil {
			return err
		}
	}
	return nil
}

func resourcesEmpty(r *specs.LinuxResources) bool {
	return r.Memory == nil && r.CPU == nil && r.Pids == nil && r.BlockIO == nil &&
		len(r.HugepageLimits) == 0 && r.Network == nil && len(r.Rdma) == 0 && len(r.Unified) == 0
}

func (m *fs2Manager) Freeze(frozen bool) error {
	want := "0"
	if frozen {
		want = "1"
	}
	if err := writeFile(m.dir, "cgroup.freeze", want); err != nil {
		return err
	}
	// cgroup.freeze is the request; cgroup.events "frozen" turns 1 once
	// every task has stopped.
	err := waitFor(10*time.Second, func() (bool, error) {
		ev, err := readKeyValues(m.dir, "cgroup.events")
		if err != nil {
			return false, err
		}
		return strconv.FormatUint(ev["frozen"], 10) == want, nil
	})
	if errors.Is(err, errTimeout) {
		return fmt.Errorf("cgroup %s: freeze=%s did not take effect", m.dir, want)
	}
	return err
}

func (m *fs2Manager) IsFrozen() (bool, error) {
	s, err := readFile(m.dir, "cgroup.freeze")
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return s == "1", err
}

func (m *fs2Manager) GetPids() ([]int, error) { return readPidsRecursive(m.dir) }

func (m *fs2Manager) OOMKillCount() (uint64, error) {
	ev, err := readKeyValues(m.dir, "memory.events")
	if err != nil {
		return 0, err
	}
	return ev["oom_kill"], nil
}

func (m *fs2Manager) Destroy() error { return removeCgroup(m.dir) }

func (m *fs2Manager) Stats() (*Stats, error) {
	s := &Stats{}
	dir := m.dir
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	// Files of controllers that are not enabled are simply absent; their
	// stats stay zero.
	if cs, err := readKeyValues(dir, "cpu.stat"); err == nil {
		s.CPU.Usage.Total = cs["usage_usec"] * 1000
		s.CPU.Usage.User = cs["user_usec"] * 1000
		s.CPU.Usage.Kernel = cs["system_usec"] * 1000
		s.CPU.Throttling.Periods = cs["nr_periods"]
		s.CPU.Throttling.ThrottledPeriods = cs["nr_throttled"]
		s.CPU.Throttling.ThrottledTime = cs["throttled_usec"] * 1000
	}
	if raw, err := readKeyValues(dir, "memory.stat"); err == nil {
		s.Memory.Raw = raw
		s.Memory.Cache = raw["file"]
		s.Memory.Usage.Usage, _ = readUint(dir, "memory.current")
		s.Memory.Usage.Limit, _ = readUint(dir, "memory.max")
		s.Memory.Usage.Max, _ = readUint(dir, "memory.peak")
		if ev, err := readKeyValues(dir, "memory.events"); err == nil {
			s.Memory.Usage.Failcnt = ev["max"]
		}
		// v1 reported memory+swap; keep that meaning for consumers.
		if swap, err := readUint(dir, "memory.swap.current"); err == nil {
			s.Memory.Swap.Usage = swap + s.Memory.Usage.Usage
			swapMax, _ := readUint(dir, "memory.swap.max")
			s.Memory.Swap.Limit = swapMax
			if swapMax != math.MaxUint64 && s.Memory.Usage.Limit != math.MaxUint64 {
				s.Memory.Swap.Limit = swapMax + s.Memory.Usage.Limit
			}
		}
	}
	s.Pids.Current, _ = readUint(dir, "pids.current")
	if lim, err := readUint(dir, "pids.max"); err == nil && lim != math.MaxUint64 {
		s.Pids.Limit = lim
	}
	if io, err := readFile(dir, "io.stat"); err == nil {
		s.Blkio = parseIOStat(io)
	}
	s.Hugetlb = map[string]Hugetlb{}
	for _, size := range hugePageSizes() {
		usage, err := readUint(dir, "hugetlb."+size+".current")
		if err != nil {
			continue
		}
		h := Hugetlb{Usage: usage}
		if ev, err := readKeyValues(dir, "hugetlb."+size+".events"); err == nil {
			h.Failcnt = ev["max"]
		}
		s.Hugetlb[size] = h
	}
	return s, nil
}

// parseIOStat reads v2 io.stat lines "8:0 rbytes=1 wbytes=2 rios=3 wios=4 ..."
// into v1-shaped entries.
func parseIOStat(data string) Blkio {
	var b Blkio
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		var major, minor uint64
		if _, err := fmt.Sscanf(f[0], "%d:%d", &major, &minor); err != nil {
			continue
		}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				continue
			}
			e := BlkioEntry{Major: major, Minor: minor, Value: n}
			switch k {
			case "rbytes":
				e.Op = "Read"
				b.IoServiceBytesRecursive = append(b.IoServiceBytesRecursive, e)
			case "wbytes":
				e.Op = "Write"
				b.IoServiceBytesRecursive = append(b.IoServiceBytesRecursive, e)
			case "rios":
				e.Op = "Read"
				b.IoServicedRecursive = append(b.IoServicedRecursive, e)
			case "wios":
				e.Op = "Write"
				b.IoServicedRecursive = append(b.IoServicedRecursive, e)
			}
		}
	}
	return b
}
