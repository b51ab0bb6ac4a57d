package cgroups

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// fsManager drives cgroup v1 hierarchies; on a hybrid host paths[""] is the
// container's directory in the unified (cgroup2) tree.
type fsManager struct {
	paths    map[string]string
	rootless bool
}

func (m *fsManager) Paths() map[string]string {
	out := make(map[string]string, len(m.paths))
	for k, v := range m.paths {
		out[k] = v
	}
	return out
}

// dirs lists the distinct directories (co-mounted controllers share one),
// sorted so operations happen in a stable order.
func (m *fsManager) dirs() []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range m.paths {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// dropDir forgets every controller living in dir (rootless: we could not
// create or join it).
func (m *fsManager) dropDir(dir string) {
	for k, d := range m.paths {
		if d == dir {
			delete(m.paths, k)
		}
	}
}

func (m *fsManager) Apply(pid int) error {
	for _, dir := range m.dirs() {
		unified := m.paths[""] == dir
		err := m.join(dir, pid)
		switch {
		case err == nil:
		case unified:
			// The unified tree only tracks the process on a hybrid host;
			// resources live in v1, so this is best effort.
			logrus.Debugf("hybrid cgroup %s: %v", dir, err)
			m.dropDir(dir)
		case m.rootless && isPermission(err):
			logrus.Warnf("cgroup %s: %v (rootless: continuing without it)", dir, err)
			m.dropDir(dir)
		default:
			return err
		}
	}
	return nil
}

func (m *fsManager) join(dir string, pid int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create cgroup: %w", err)
	}
	if dir == m.paths["cpuset"] {
		// A v1 cpuset cgroup starts with empty cpus/mems and refuses tasks
		// until they are set.
		if err := initCpuset(dir); err != nil {
			return err
		}
	}
	if pid > 0 {
		if err := writeFile(dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("join cgroup: %w", err)
		}
	}
	return nil
}

// initCpuset copies cpuset.cpus and cpuset.mems down from the nearest
// ancestor that has them.
func initCpuset(dir string) error {
	for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := readFile(dir, file)
		if err != nil {
			return err
		}
		if cur != "" {
			continue
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return fmt.Errorf("no %s found above %s", file, dir)
		}
		if err := initCpuset(parent); err != nil {
			return err
		}
		val, err := readFile(parent, file)
		if err != nil {
			return err
		}
		if err := writeFile(dir, file, val); err != nil {
			return err
		}
	}
	return nil
}

// need returns the directory of ctrl, or why limits for it cannot be set.
func (m *fsManager) need(ctrl string) (string, error) {
	if dir, ok := m.paths[ctrl]; ok {
		return dir, nil
	}
	if m.rootless {
		return "", fmt.Errorf("cannot set %s limits: the container has no %s cgroup (rootless)", ctrl, ctrl)
	}
	return "", fmt.Errorf("cannot set %s limits: the %s cgroup controller is not mounted", ctrl, ctrl)
}

func exists(dir, file string) bool {
	_, err := os.Stat(filepath.Join(dir, file))
	return err == nil
}

func (m *fsManager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if err := m.setMemory(r.Memory); err != nil {
		return err
	}
	if err := m.setCPU(r.CPU); err != nil {
		return err
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		dir, err := m.need("pids")
		if err != nil {
			return err
		}
		if err := writeFile(dir, "pids.max", pidsLimit(*p.Limit)); err != nil {
			return err
		}
	}
	if err := m.setBlkio(r.BlockIO); err != nil {
		return err
	}
	if err := m.setHugetlb(r.HugepageLimits); err != nil {
		return err
	}
	if err := m.setNetwork(r.Network); err != nil {
		return err
	}
	if plan := rdmaPlan(r.Rdma); len(plan) > 0 {
		dir, err := m.need("rdma")
		if err != nil {
			return err
		}
		if err := runPlan(dir, plan); err != nil {
			return err
		}
	}
	if len(r.Unified) > 0 {
		// Only meaningful for controllers that live in the unified tree of
		// a hybrid host; runPlan reports keys whose file is not there.
		plan, err := unifiedPlan(r.Unified)
		if err != nil {
			return err
		}
		dir, ok := m.paths[""]
		if !ok {
			return errors.New("linux.resources.unified requires cgroup v2")
		}
		if err := runPlan(dir, plan); err != nil {
			return err
		}
	}
	if r.Devices != nil && !m.rootless {
		// Rootless containers run in a user namespace where device nodes
		// cannot be created, and cannot write devices.* anyway.
		if err := m.setDevices(r.Devices); err != nil {
			return err
		}
	}
	return nil
}

func (m *fsManager) setMemory(mem *specs.LinuxMemory) error {
	if mem == nil {
		return nil
	}
	dir, err := m.need("memory")
	if err != nil {
		return err
	}
	var limit, swap int64
	if mem.Limit != nil {
		limit = *mem.Limit
	}
	if mem.Swap != nil {
		swap = *mem.Swap
	}
	if mem.CheckBeforeUpdate != nil && *mem.CheckBeforeUpdate && limit > 0 {
		if cur, err := readUint(dir, "memory.usage_in_bytes"); err == nil && uint64(limit) < cur {
			return fmt.Errorf("memory limit %d is below current usage %d", limit, cur)
		}
	}
	if err := setMemoryAndSwap(dir, limit, swap); err != nil {
		return err
	}
	if mem.Reservation != nil && *mem.Reservation != 0 {
		if err := writeFile(dir, "memory.soft_limit_in_bytes", strconv.FormatInt(*mem.Reservation, 10)); err != nil {
			return err
		}
	}
	if mem.Kernel != nil && *mem.Kernel != 0 {
		logrus.Warn("linux.resources.memory.kernel is deprecated and ignored")
	}
	if mem.KernelTCP != nil && *mem.KernelTCP != 0 {
		if err := writeFile(dir, "memory.kmem.tcp.limit_in_bytes", strconv.FormatInt(*mem.KernelTCP, 10)); err != nil {
			return err
		}
	}
	if mem.Swappiness != nil {
		if *mem.Swappiness > 100 {
			return fmt.Errorf("invalid memory swappiness %d: must be 0-100", *mem.Swappiness)
		}
		if err := writeFile(dir, "memory.swappiness", strconv.FormatUint(*mem.Swappiness, 10)); err != nil {
			return err
		}
	}
	if mem.DisableOOMKiller != nil {
		v := "0"
		if *mem.DisableOOMKiller {
			v = "1"
		}
		if err := writeFile(dir, "memory.oom_control", v); err != nil {
			return err
		}
	}
	return nil
}

// setMemoryAndSwap writes the v1 limits in an order the kernel accepts: it
// requires memory.limit <= memsw.limit at every step, so a raise writes
// memsw first and a cut writes the memory limit first.
func setMemoryAndSwap(dir string, limit, swap int64) error {
	if limit == -1 && swap == 0 {
		swap = -1 // as on v2: unlimited memory with swap unset is unlimited swap
	}
	haveSwap := exists(dir, "memory.memsw.limit_in_bytes")
	if swap != 0 && !haveSwap {
		// Unlimited swap, or none (swap == limit), needs no enforcing.
		if swap != -1 && swap != limit {
			return errors.New("cannot set a swap limit: swap accounting is not enabled (memory.memsw.limit_in_bytes missing)")
		}
		swap = 0
	}
	writeMem := func() error {
		if limit == 0 {
			return nil
		}
		return writeFile(dir, "memory.limit_in_bytes", strconv.FormatInt(limit, 10))
	}
	writeSwap := func() error {
		if swap == 0 {
			return nil
		}
		return writeFile(dir, "memory.memsw.limit_in_bytes", strconv.FormatInt(swap, 10))
	}
	swapFirst := false
	if limit != 0 && swap != 0 {
		cur, err := readUint(dir, "memory.limit_in_bytes")
		if err != nil {
			return err
		}
		swapFirst = swap == -1 || cur < uint64(swap)
	}
	if swapFirst {
		if err := writeSwap(); err != nil {
			return err
		}
		return writeMem()
	}
	if err := writeMem(); err != nil {
		return err
	}
	return writeSwap()
}

func (m *fsManager) setCPU(c *specs.LinuxCPU) error {
	if c == nil {
		return nil
	}
	needCPU := c.Shares != nil || c.Quota != nil || c.Period != nil || c.Burst != nil ||
		c.RealtimeRuntime != nil || c.RealtimePeriod != nil || c.Idle != nil
	if needCPU {
		dir, err := m.need("cpu")
		if err != nil {
			return err
		}
		if c.Shares != nil && *c.Shares != 0 {
			if err := writeFile(dir, "cpu.shares", strconv.FormatUint(*c.Shares, 10)); err != nil {
				return err
			}
		}
		var pairs [][2]string
		if c.Period != nil && *c.Period != 0 {
			pairs = append(pairs, [2]string{"cpu.cfs_period_us", strconv.FormatUint(*c.Period, 10)})
		}
		if c.Quota != nil && *c.Quota != 0 {
			pairs = append(pairs, [2]string{"cpu.cfs_quota_us", strconv.FormatInt(*c.Quota, 10)})
		}
		if err := writeEitherOrder(dir, pairs); err != nil {
			return err
		}
		if c.Burst != nil {
			if err := writeFile(dir, "cpu.cfs_burst_us", strconv.FormatUint(*c.Burst, 10)); err != nil {
				return err
			}
		}
		pairs = nil
		if c.RealtimePeriod != nil && *c.RealtimePeriod != 0 {
			pairs = append(pairs, [2]string{"cpu.rt_period_us", strconv.FormatUint(*c.RealtimePeriod, 10)})
		}
		if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 {
			pairs = append(pairs, [2]string{"cpu.rt_runtime_us", strconv.FormatInt(*c.RealtimeRuntime, 10)})
		}
		if err := writeEitherOrder(dir, pairs); err != nil {
			return err
		}
		if c.Idle != nil {
			if err := writeFile(dir, "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
				return err
			}
		}
	}
	if c.Cpus != "" || c.Mems != "" {
		dir, err := m.need("cpuset")
		if err != nil {
			return err
		}
		if c.Cpus != "" {
			if err := writeFile(dir, "cpuset.cpus", c.Cpus); err != nil {
				return err
			}
		}
		if c.Mems != "" {
			if err := writeFile(dir, "cpuset.mems", c.Mems); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeEitherOrder writes a period/limit pair. Which order the kernel
// accepts depends on the old values (the limit must fit the period at each
// step), so on EINVAL it tries the other order.
func writeEitherOrder(dir string, pairs [][2]string) error {
	var first error
	for _, p := range pairs {
		if err := writeFile(dir, p[0], p[1]); err != nil {
			first = err
			break
		}
	}
	if first == nil {
		return nil
	}
	if !errors.Is(first, unix.EINVAL) || len(pairs) != 2 {
		return first
	}
	for i := len(pairs) - 1; i >= 0; i-- {
		if err := writeFile(dir, pairs[i][0], pairs[i][1]); err != nil {
			return err
		}
	}
	return nil
}

func (m *fsManager) setBlkio(b *specs.LinuxBlockIO) error {
	if b == nil {
		return nil
	}
	dir, err := m.need("blkio")
	if err != nil {
		return err
	}
	// blkio.weight was CFQ's; since kernel 5.0 BFQ offers blkio.bfq.weight.
	weightFile := "blkio.weight"
	if !exists(dir, weightFile) {
		weightFile = "blkio.bfq.weight"
	}
	if b.Weight != nil && *b.Weight != 0 {
		if err := writeFile(dir, weightFile, strconv.Itoa(int(*b.Weight))); err != nil {
			return err
		}
	}
	if b.LeafWeight != nil && *b.LeafWeight != 0 {
		if exists(dir, "blkio.leaf_weight") {
			if err := writeFile(dir, "blkio.leaf_weight", strconv.Itoa(int(*b.LeafWeight))); err != nil {
				return err
			}
		} else {
			logrus.Warn("blkio leaf weight is not supported by this kernel (CFQ only); ignored")
		}
	}
	for _, d := range b.WeightDevice {
		dev := fmt.Sprintf("%d:%d", d.Major, d.Minor)
		if d.Weight != nil {
			if err := writeFile(dir, weightFile+"_device", fmt.Sprintf("%s %d", dev, *d.Weight)); err != nil {
				return err
			}
		}
		if d.LeafWeight != nil && exists(dir, "blkio.leaf_weight_device") {
			if err := writeFile(dir, "blkio.leaf_weight_device", fmt.Sprintf("%s %d", dev, *d.LeafWeight)); err != nil {
				return err
			}
		}
	}
	for _, t := range []struct {
		file string
		devs []specs.LinuxThrottleDevice
	}{
		{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
		{"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
		{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
		{"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.devs {
			if err := writeFile(dir, t.file, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate)); err != nil {
				return err
			}
		}
	}
	return nil
}

// setHugetlb uses the v1 hugetlb hierarchy, or on a hybrid host without one
// the unified tree (where this host's hugetlb lives).
func (m *fsManager) setHugetlb(limits []specs.LinuxHugepageLimit) error {
	if len(limits) == 0 {
		return nil
	}
	if dir, ok := m.paths["hugetlb"]; ok {
		for _, l := range limits {
			v := strconv.FormatUint(l.Limit, 10)
			if err := writeFile(dir, "hugetlb."+l.Pagesize+".limit_in_bytes", v); err != nil {
				return err
			}
			if rsvd := "hugetlb." + l.Pagesize + ".rsvd.limit_in_bytes"; exists(dir, rsvd) {
				if err := writeFile(dir, rsvd, v); err != nil {
					return err
				}
			}
		}
		return nil
	}
	dir, ok := m.paths[""]
	if !ok {
		return errors.New("cannot set hugepage limits: the hugetlb cgroup controller is not available")
	}
	enableControllers(unifiedMount, dir)
	return runPlan(dir, v2HugetlbPlan(limits))
}

func (m *fsManager) setNetwork(n *specs.LinuxNetwork) error {
	if n == nil {
		return nil
	}
	if n.ClassID != nil {
		dir, err := m.need("net_cls")
		if err != nil {
			return err
		}
		if err := writeFile(dir, "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10)); err != nil {
			return err
		}
	}
	if len(n.Priorities) > 0 {
		dir, err := m.need("net_prio")
		if err != nil {
			return err
		}
		for _, p := range n.Priorities {
			if err := writeFile(dir, "net_prio.ifpriomap", fmt.Sprintf("%s %d", p.Name, p.Priority)); err != nil {
				return err
			}
		}
	}
	return nil
}

// setDevices writes the rules in the spec's order. Note the kernel refuses
// to change the default policy ("a") of a devices cgroup that has child
// cgroups; then the rules are left as they are, with a warning.
func (m *fsManager) setDevices(specRules []specs.LinuxDeviceCgroup) error {
	dir, err := m.need("devices")
	if err != nil {
		return err
	}
	rules, err := normalizeDeviceRules(specRules)
	if err != nil {
		return err
	}
	for _, w := range v1DeviceWrites(rules) {
		if err := writeFile(dir, w.File, w.Value); err != nil {
			if w.Value == "a" && errors.Is(err, unix.EINVAL) && hasChildCgroups(dir) {
				logrus.Warnf("devices cgroup %s has child cgroups; device rules not updated", dir)
				return nil
			}
			return err
		}
	}
	return nil
}

func hasChildCgroups(dir string) bool {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			return true
		}
	}
	return false
}

func (m *fsManager) Freeze(frozen bool) error {
	dir, ok := m.paths["freezer"]
	if !ok {
		return errors.New("cannot freeze: the freezer cgroup controller is not available")
	}
	want := "THAWED"
	if frozen {
		want = "FROZEN"
	}
	// Freezing can stall in FREEZING while a task is in an uninterruptible
	// sleep; writing the state again retries it, and thawing in between
	// lets the stuck task make progress.
	var state string
	for attempt := 0; attempt < 1000; attempt++ {
		if frozen && attempt > 0 && attempt%50 == 0 {
			_ = writeFile(dir, "freezer.state", "THAWED")
		}
		if err := writeFile(dir, "freezer.state", want); err != nil {
			return err
		}
		var err error
		if state, err = readFile(dir, "freezer.state"); err != nil {
			return err
		}
		if state == want {
			return nil
		}
		time.Sleep(time.Duration(min(attempt+1, 10)) * time.Millisecond)
	}
	if frozen {
		_ = writeFile(dir, "freezer.state", "THAWED")
	}
	return fmt.Errorf("cgroup %s: freezer.state stuck at %s, wanted %s", dir, state, want)
}

func (m *fsManager) IsFrozen() (bool, error) {
	dir, ok := m.paths["freezer"]
	if !ok {
		return false, nil
	}
	state, err := readFile(dir, "freezer.state")
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return state == "FROZEN", err
}

// GetPids walks one hierarchy: every process is in exactly one cgroup of
// each, so one subtree holds all of the container's processes.
func (m *fsManager) GetPids() ([]int, error) {
	for _, ctrl := range []string{"pids", "freezer", "memory", "devices", "cpu", "cpuacct", "name=systemd", ""} {
		if dir, ok := m.paths[ctrl]; ok {
			return readPidsRecursive(dir)
		}
	}
	for _, dir := range m.dirs() {
		return readPidsRecursive(dir)
	}
	return nil, errors.New("the container has no cgroup")
}

func (m *fsManager) OOMKillCount() (uint64, error) {
	dir, err := m.need("memory")
	if err != nil {
		return 0, err
	}
	kv, err := readKeyValues(dir, "memory.oom_control")
	if err != nil {
		return 0, err
	}
	return kv["oom_kill"], nil
}

func (m *fsManager) Destroy() error {
	var errs []error
	for _, dir := range m.dirs() {
		if err := removeCgroup(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m *fsManager) Stats() (*Stats, error) {
	s := &Stats{Hugetlb: map[string]Hugetlb{}}
	if dir, ok := m.paths["cpuacct"]; ok {
		s.CPU.Usage.Total, _ = readUint(dir, "cpuacct.usage")
		s.CPU.Usage.User, _ = readUint(dir, "cpuacct.usage_user")
		s.CPU.Usage.Kernel, _ = readUint(dir, "cpuacct.usage_sys")
		s.CPU.Usage.Percpu = readUints(dir, "cpuacct.usage_percpu")
		s.CPU.Usage.PercpuUser = readUints(dir, "cpuacct.usage_percpu_user")
		s.CPU.Usage.PercpuKernel = readUints(dir, "cpuacct.usage_percpu_sys")
	}
	if dir, ok := m.paths["cpu"]; ok {
		if cs, err := readKeyValues(dir, "cpu.stat"); err == nil {
			s.CPU.Throttling.Periods = cs["nr_periods"]
			s.CPU.Throttling.ThrottledPeriods = cs["nr_throttled"]
			s.CPU.Throttling.ThrottledTime = cs["throttled_time"]
		}
	}
	if dir, ok := m.paths["memory"]; ok {
		raw, err := readKeyValues(dir, "memory.stat")
		if err != nil {
			return nil, err
		}
		s.Memory.Raw = raw
		s.Memory.Cache = raw["cache"]
		s.Memory.Usage = memoryEntry(dir, "memory")
		s.Memory.Swap = memoryEntry(dir, "memory.memsw")
		s.Memory.Kernel = memoryEntry(dir, "memory.kmem")
		s.Memory.KernelTCP = memoryEntry(dir, "memory.kmem.tcp")
	}
	if dir, ok := m.paths["pids"]; ok {
		s.Pids.Current, _ = readUint(dir, "pids.current")
		if lim, err := readUint(dir, "pids.max"); err == nil && lim != math.MaxUint64 {
			s.Pids.Limit = lim
		}
	}
	if dir, ok := m.paths["blkio"]; ok {
		prefix := "blkio.throttle."
		if exists(dir, "blkio.bfq.io_service_bytes_recursive") {
			prefix = "blkio.bfq."
		}
		s.Blkio.IoServiceBytesRecursive = readBlkioEntries(dir, prefix+"io_service_bytes_recursive")
		s.Blkio.IoServicedRecursive = readBlkioEntries(dir, prefix+"io_serviced_recursive")
	}
	for _, size := range hugePageSizes() {
		if dir, ok := m.paths["hugetlb"]; ok {
			usage, err := readUint(dir, "hugetlb."+size+".usage_in_bytes")
			if err != nil {
				continue
			}
			h := Hugetlb{Usage: usage}
			h.Max, _ = readUint(dir, "hugetlb."+size+".max_usage_in_bytes")
			h.Failcnt, _ = readUint(dir, "hugetlb."+size+".failcnt")
			s.Hugetlb[size] = h
		} else if dir, ok := m.paths[""]; ok {
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
	}
	return s, nil
}

// memoryEntry reads <prefix>.{usage_in_bytes,max_usage_in_bytes,limit_in_bytes,failcnt}.
func memoryEntry(dir, prefix string) MemoryEntry {
	var e MemoryEntry
	e.Usage, _ = readUint(dir, prefix+".usage_in_bytes")
	e.Max, _ = readUint(dir, prefix+".max_usage_in_bytes")
	e.Limit, _ = readUint(dir, prefix+".limit_in_bytes")
	e.Failcnt, _ = readUint(dir, prefix+".failcnt")
	return e
}

func readUints(dir, file string) []uint64 {
	s, err := readFile(dir, file)
	if err != nil {
		return nil
	}
	var out []uint64
	for _, f := range strings.Fields(s) {
		if v, err := strconv.ParseUint(f, 10, 64); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// readBlkioEntries parses "8:0 Read 4096" lines (the "Total" line is skipped).
func readBlkioEntries(dir, file string) []BlkioEntry {
	s, err := readFile(dir, file)
	if err != nil {
		return nil
	}
	var out []BlkioEntry
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		var e BlkioEntry
		if _, err := fmt.Sscanf(f[0], "%d:%d", &e.Major, &e.Minor); err != nil {
			continue
		}
		e.Op = f[1]
		e.Value, _ = strconv.ParseUint(f[2], 10, 64)
		out = append(out, e)
	}
	return out
}
