package cgroups

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// newV1 creates a manager at a unique path, destroyed when the test ends.
func newV1(t *testing.T) Manager {
	t.Helper()
	m, err := New("test", testPath(t), false, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*fsManager); !ok {
		t.Fatalf("New on a %s host returned %T, want the v1 driver", Mode(), m)
	}
	t.Cleanup(func() {
		if pids, _ := m.GetPids(); len(pids) > 0 {
			for _, p := range pids {
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
		m.Freeze(false)
		paths := m.Paths()
		if err := m.Destroy(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, dir := range paths {
			os.Remove(filepath.Dir(dir)) // the shared /rootlet-test parent, once empty
		}
	})
	return m
}

func TestV1ApplyAndSet(t *testing.T) {
	requireRootV1(t)
	m := newV1(t)
	c := startChild(t, "sleep 100")
	if err := m.Apply(c.pid()); err != nil {
		t.Fatal(err)
	}
	paths := m.Paths()
	for _, ctrl := range []string{"memory", "pids", "cpu", "cpuset", "freezer", "devices"} {
		dir, ok := paths[ctrl]
		if !ok {
			t.Fatalf("no %s path in %v", ctrl, paths)
		}
		procs := strings.Fields(readTrim(t, filepath.Join(dir, "cgroup.procs")))
		if !slices.Contains(procs, strconv.Itoa(c.pid())) {
			t.Errorf("%s: pid %d not in cgroup.procs %v", ctrl, c.pid(), procs)
		}
	}
	if Mode() == "hybrid" {
		procs := strings.Fields(readTrim(t, filepath.Join(paths[""], "cgroup.procs")))
		if !slices.Contains(procs, strconv.Itoa(c.pid())) {
			t.Errorf("unified: pid %d not in cgroup.procs %v", c.pid(), procs)
		}
	}

	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20), Reservation: ptr[int64](32 << 20)},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](10)},
		CPU: &specs.LinuxCPU{
			Shares: ptr[uint64](512),
			Quota:  ptr[int64](50000),
			Period: ptr[uint64](100000),
			Cpus:   "0",
			Mems:   "0",
		},
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		paths["memory"] + "/memory.limit_in_bytes":      strconv.Itoa(64 << 20),
		paths["memory"] + "/memory.soft_limit_in_bytes": strconv.Itoa(32 << 20),
		paths["pids"] + "/pids.max":                     "10",
		paths["cpu"] + "/cpu.shares":                    "512",
		paths["cpu"] + "/cpu.cfs_quota_us":              "50000",
		paths["cpu"] + "/cpu.cfs_period_us":             "100000",
		paths["cpuset"] + "/cpuset.cpus":                "0",
		paths["cpuset"] + "/cpuset.mems":                "0",
	}
	for file, v := range want {
		if got := readTrim(t, file); got != v {
			t.Errorf("%s = %q, want %q", file, got, v)
		}
	}

	// An update lowers and raises limits; -1 quota removes the cap and
	// 0 / -1 pids limits mean "max".
	if err := m.Set(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](128 << 20)},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](0)},
		CPU:    &specs.LinuxCPU{Quota: ptr[int64](-1)},
	}); err != nil {
		t.Fatal(err)
	}
	if got := readTrim(t, paths["memory"]+"/memory.limit_in_bytes"); got != strconv.Itoa(128<<20) {
		t.Errorf("after update memory.limit_in_bytes = %s", got)
	}
	if got := readTrim(t, paths["pids"]+"/pids.max"); got != "max" {
		t.Errorf("after update pids.max = %s", got)
	}
	if got := readTrim(t, paths["cpu"]+"/cpu.cfs_quota_us"); got != "-1" {
		t.Errorf("after update cpu.cfs_quota_us = %s", got)
	}
}

func TestV1Devices(t *testing.T) {
	requireRootV1(t)
	m := newV1(t)
	c := startChild(t, `
if head -c1 /dev/null; then echo null-ok; else echo null-denied; fi
if head -c1 /dev/zero >/dev/null; then echo zero-ok; else echo zero-denied; fi`)
	if err := m.Apply(c.pid()); err != nil {
		t.Fatal(err)
	}
	err := m.Set(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](3), Access: "rwm"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	list := readTrim(t, filepath.Join(m.Paths()["devices"], "devices.list"))
	if list != "c 1:3 rwm" {
		t.Errorf("devices.list = %q, want only c 1:3 rwm", list)
	}
	c.release(t)
	var out []string
	for len(out) < 3 {
		line := c.readLine(t)
		out = append(out, line)
		if line == "zero-ok" || line == "zero-denied" {
			break
		}
	}
	got := strings.Join(out, "\n")
	if !strings.Contains(got, "null-ok") || !strings.Contains(got, "zero-denied") || !strings.Contains(got, "Operation not permitted") {
		t.Errorf("child output:\n%s\nwant /dev/null allowed and /dev/zero denied with EPERM", got)
	}
}

func TestV1FreezeGetPidsStatsDestroy(t *testing.T) {
	requireRootV1(t)
	m := newV1(t)
	c := startChild(t, "sleep 100 & echo $!; wait")
	if err := m.Apply(c.pid()); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](20)}}); err != nil {
		t.Fatal(err)
	}
	c.release(t)
	grandchild, err := strconv.Atoi(c.readLine(t))
	if err != nil {
		t.Fatal(err)
	}

	pids, err := m.GetPids()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pids, c.pid()) || !slices.Contains(pids, grandchild) {
		t.Fatalf("GetPids = %v, want %d and %d", pids, c.pid(), grandchild)
	}

	if err := m.Freeze(true); err != nil {
		t.Fatal(err)
	}
	if s := readTrim(t, filepath.Join(m.Paths()["freezer"], "freezer.state")); s != "FROZEN" {
		t.Errorf("freezer.state = %s", s)
	}
	// Frozen tasks show as D (TASK_FROZEN) since Linux 6.1, T before.
	if st := procState(t, grandchild); st != 'D' && st != 'T' {
		t.Errorf("frozen process state %c, want D or T", st)
	}
	// A manager loaded from saved paths sees the same state.
	if frozen, err := Load(m.Paths(), false).IsFrozen(); err != nil || !frozen {
		t.Errorf("Load(...).IsFrozen() = %v, %v", frozen, err)
	}
	if err := m.Freeze(false); err != nil {
		t.Fatal(err)
	}
	if frozen, _ := m.IsFrozen(); frozen {
		t.Error("still frozen after thaw")
	}
	// Thawed, it goes back to sleeping (after a moment of running).
	if ps := waitState(t, grandchild, "S"); ps != 'S' && ps != 'R' {
		t.Errorf("thawed process state %c, want S or R", ps)
	}

	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Memory.Usage.Usage == 0 {
		t.Error("memory usage is 0")
	}
	if st.Pids.Current < 2 || st.Pids.Limit != 20 {
		t.Errorf("pids stats = %+v, want current >= 2, limit 20", st.Pids)
	}
	if st.CPU.Usage.Total == 0 {
		t.Error("cpu usage is 0")
	}
	// The JSON has the shape of runc's `events --stats` data.
	js, _ := json.Marshal(st)
	var shape struct {
		CPU struct {
			Usage struct {
				Total uint64 `json:"total"`
			} `json:"usage"`
		} `json:"cpu"`
		Memory struct {
			Usage struct {
				Usage uint64 `json:"usage"`
			} `json:"usage"`
			Raw map[string]uint64 `json:"raw"`
		} `json:"memory"`
		Pids struct {
			Current uint64 `json:"current"`
		} `json:"pids"`
	}
	if err := json.Unmarshal(js, &shape); err != nil || shape.CPU.Usage.Total == 0 || shape.Memory.Usage.Usage == 0 ||
		shape.Pids.Current == 0 || len(shape.Memory.Raw) == 0 {
		t.Errorf("stats JSON %s lacks runc's fields (%v)", js, err)
	}

	// The container makes sub-cgroups of its own and moves a process
	// there; Destroy must remove them too.
	paths := m.Paths()
	for _, ctrl := range []string{"memory", "pids", "cpu", "freezer"} {
		sub := filepath.Join(paths[ctrl], "nested", "deeper")
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if ctrl == "memory" {
			if err := os.WriteFile(filepath.Join(sub, "cgroup.procs"), []byte(strconv.Itoa(grandchild)), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	if pids, _ := m.GetPids(); !slices.Contains(pids, grandchild) {
		t.Errorf("GetPids after move to a sub-cgroup = %v, want %d", pids, grandchild)
	}
	syscall.Kill(grandchild, syscall.SIGKILL)
	c.cmd.Process.Kill()
	c.wait(t)
	// The grandchild is reparented to init; wait until the kernel has
	// emptied the cgroup.
	deadline := time.Now().Add(5 * time.Second)
	for pids, _ := m.GetPids(); len(pids) > 0 && time.Now().Before(deadline); pids, _ = m.GetPids() {
		time.Sleep(10 * time.Millisecond)
	}
	if pids, err := m.GetPids(); len(pids) > 0 {
		t.Logf("still in the cgroup: %v %v", pids, err)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	for ctrl, dir := range paths {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s dir %s still exists after Destroy (%v)", ctrl, dir, err)
		}
	}
}

func TestV1OOMKill(t *testing.T) {
	requireRootV1(t)
	m := newV1(t)
	c := startChild(t, `x=$(head -c 50000000 /dev/zero | tr "\0" a); echo survived ${#x}`)
	if err := m.Apply(c.pid()); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{
		Limit: ptr[int64](16 << 20), Swap: ptr[int64](16 << 20),
	}}); err != nil {
		t.Fatal(err)
	}
	if n, err := m.OOMKillCount(); err != nil || n != 0 {
		t.Fatalf("OOMKillCount before = %d, %v", n, err)
	}
	c.release(t)
	err := c.wait(t)
	if sig := killedBy(err); sig != syscall.SIGKILL {
		t.Errorf("shell exit: %v, want killed by SIGKILL", err)
	}
	n, err := m.OOMKillCount()
	if err != nil {
		t.Fatal(err)
	}
	if n < 1 {
		t.Errorf("OOMKillCount = %d, want >= 1", n)
	}
}

func TestNewPaths(t *testing.T) {
	requireRootV1(t)
	if _, err := New("x", "", true, false); err == nil {
		t.Error("systemd driver: want an error")
	}
	m, err := New("abc", "", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Paths()["memory"]; got != "/sys/fs/cgroup/memory/rootlet/abc" {
		t.Errorf("default memory path = %s", got)
	}
	// Relative paths hang below our own cgroup and cannot climb out of it.
	own, _ := ownCgroups()
	m, err = New("abc", "../../x/y", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Paths()["memory"], filepath.Join("/sys/fs/cgroup/memory", own["memory"], "x/y"); got != want {
		t.Errorf("relative memory path = %s, want %s", got, want)
	}
}

// On a hybrid host without a v1 hugetlb hierarchy, hugepage limits go to
// the container's directory in the unified tree.
func TestHybridHugetlb(t *testing.T) {
	requireRootV1(t)
	if _, err := os.Stat("/sys/kernel/mm/hugepages/hugepages-2048kB"); err != nil {
		t.Skip("no 2MB huge pages")
	}
	// Registered before newV1 so it runs after newV1's cleanup removed the
	// children: only then can the root's setting be restored.
	rootCtl, _ := readFile(unifiedMount, "cgroup.subtree_control")
	t.Cleanup(func() {
		if !strings.Contains(rootCtl, "hugetlb") {
			if err := writeFile(unifiedMount, "cgroup.subtree_control", "-hugetlb"); err != nil {
				t.Logf("restoring the unified root's controllers: %v", err)
			}
		}
	})
	m := newV1(t)
	paths := m.Paths()
	_, v1 := paths["hugetlb"]
	ctrls, _ := readFile(unifiedMount, "cgroup.controllers")
	if v1 || Mode() != "hybrid" || !strings.Contains(ctrls, "hugetlb") {
		t.Skip("not a hybrid host with hugetlb only in the unified tree")
	}
	if err := m.Apply(-1); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 8 << 20}}}); err != nil {
		t.Fatal(err)
	}
	if got := readTrim(t, filepath.Join(paths[""], "hugetlb.2MB.max")); got != strconv.Itoa(8<<20) {
		t.Errorf("unified hugetlb.2MB.max = %s", got)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Hugetlb["2MB"]; !ok {
		t.Errorf("Stats().Hugetlb = %v, want a 2MB entry", st.Hugetlb)
	}
}

// Rootless: a cgroup that cannot be created is dropped with a warning, and
// only a limit that needs it fails. (sysfs refuses mkdir even to root, which
// stands in for the permission error an unprivileged user gets.)
func TestRootlessPermissionErrors(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to get a predictable EPERM from sysfs")
	}
	paths := map[string]string{"memory": "/sys/kernel/rootlet-test-memory"}
	if err := Load(paths, false).Apply(-1); err == nil {
		t.Fatal("Apply without rootless: want the EPERM error")
	}
	m := Load(paths, true)
	if err := m.Apply(-1); err != nil {
		t.Fatalf("rootless Apply: %v", err)
	}
	if _, ok := m.Paths()["memory"]; ok {
		t.Error("rootless Apply kept the memory path it could not create")
	}
	if err := m.Set(&specs.LinuxResources{}); err != nil {
		t.Errorf("rootless Set without limits: %v", err)
	}
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](1 << 20)}}); err == nil || !strings.Contains(err.Error(), "rootless") {
		t.Errorf("rootless Set with a memory limit: err = %v, want a rootless error", err)
	}
}
