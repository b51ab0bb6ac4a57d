package cgroups

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestConversions(t *testing.T) {
	for shares, want := range map[uint64]uint64{0: 0, 1: 1, 2: 1, 1024: 39, 262144: 10000, 1 << 30: 10000} {
		if got := CPUSharesToWeight(shares); got != want {
			t.Errorf("CPUSharesToWeight(%d) = %d, want %d", shares, got, want)
		}
	}
	for w, want := range map[uint64]uint64{0: 0, 10: 1, 500: 4950, 1000: 10000} {
		if got := BlkioWeightToIOWeight(w); got != want {
			t.Errorf("BlkioWeightToIOWeight(%d) = %d, want %d", w, got, want)
		}
	}
	for _, c := range []struct {
		swap, limit, want int64
		err               bool
	}{
		{0, 100, 0, false},
		{-1, 100, -1, false},
		{0, -1, -1, false},
		{300, 100, 200, false},
		{100, 100, 0, false},
		{50, 100, 0, true},
		{300, 0, 0, true},
	} {
		got, err := SwapToV2(c.swap, c.limit)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("SwapToV2(%d, %d) = %d, %v", c.swap, c.limit, got, err)
		}
	}
	for _, c := range []struct {
		quota  int64
		period uint64
		want   string
	}{
		{0, 0, ""}, {50000, 0, "50000 100000"}, {-1, 0, "max 100000"}, {20000, 50000, "20000 50000"}, {0, 50000, "max 50000"},
	} {
		if got := CPUMax(c.quota, c.period); got != c.want {
			t.Errorf("CPUMax(%d, %d) = %q, want %q", c.quota, c.period, got, c.want)
		}
	}
}

func TestV2Plan(t *testing.T) {
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20), Swap: ptr[int64](96 << 20), Reservation: ptr[int64](1 << 20), Swappiness: ptr[uint64](10)},
		CPU:    &specs.LinuxCPU{Shares: ptr[uint64](512), Quota: ptr[int64](50000), Burst: ptr[uint64](1000), Cpus: "0-1", Mems: "0", Idle: ptr[int64](0)},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](10)},
		BlockIO: &specs.LinuxBlockIO{
			Weight:                ptr[uint16](500),
			WeightDevice:          []specs.LinuxWeightDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Weight: ptr[uint16](10)}},
			ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1 << 20}},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{
				{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 0},
			},
		},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
		Rdma:           map[string]specs.LinuxRdma{"mlx5_0": {HcaHandles: ptr[uint32](3)}},
		Unified:        map[string]string{"memory.high": "50000000", "cpu.weight": "7"},
	}
	got, err := v2Plan(r)
	if err != nil {
		t.Fatal(err)
	}
	want := []fileWrite{
		{File: "memory.swap.max", Value: strconv.Itoa(32 << 20)},
		{File: "memory.max", Value: strconv.Itoa(64 << 20)},
		{File: "memory.low", Value: strconv.Itoa(1 << 20)},
		{File: "cpu.weight", Value: "20"},
		{File: "cpu.max", Value: "50000 100000"},
		{File: "cpu.max.burst", Value: "1000"},
		{File: "cpu.idle", Value: "0"},
		{File: "cpuset.cpus", Value: "0-1"},
		{File: "cpuset.mems", Value: "0"},
		{File: "pids.max", Value: "10"},
		{File: "io.bfq.weight", Value: "500", AltFile: "io.weight", AltValue: "4950"},
		{File: "io.bfq.weight", Value: "8:0 10", AltFile: "io.weight", AltValue: "8:0 1"},
		{File: "io.max", Value: "8:0 rbps=1048576"},
		{File: "io.max", Value: "8:16 wiops=max"},
		{File: "hugetlb.2MB.max", Value: strconv.Itoa(4 << 20)},
		{File: "hugetlb.2MB.rsvd.max", Value: strconv.Itoa(4 << 20), Optional: true},
		{File: "rdma.max", Value: "mlx5_0 hca_handle=3"},
		{File: "cpu.weight", Value: "7"}, // unified last: it overrides
		{File: "memory.high", Value: "50000000"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plan:\n got %+v\nwant %+v", got, want)
	}

	// Swap equal to the limit means no swap; unlimited memory means
	// unlimited swap.
	got, _ = v2Plan(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](100), Swap: ptr[int64](100)}})
	if want := []fileWrite{{File: "memory.swap.max", Value: "0", Optional: true}, {File: "memory.max", Value: "100"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("swap == limit: %+v", got)
	}
	got, _ = v2Plan(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](-1)}, Pids: &specs.LinuxPids{Limit: ptr[int64](-1)}})
	if want := []fileWrite{{File: "memory.swap.max", Value: "max", Optional: true}, {File: "memory.max", Value: "max"}, {File: "pids.max", Value: "max"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("unlimited: %+v", got)
	}

	for name, bad := range map[string]*specs.LinuxResources{
		"unified slash":  {Unified: map[string]string{"../cgroup.procs": "1"}},
		"unified dotdot": {Unified: map[string]string{"..": "1"}},
		"unified sub":    {Unified: map[string]string{"sub/memory.max": "1"}},
		"realtime":       {CPU: &specs.LinuxCPU{RealtimeRuntime: ptr[int64](1000)}},
		"swap < limit":   {Memory: &specs.LinuxMemory{Limit: ptr[int64](100), Swap: ptr[int64](50)}},
	} {
		if _, err := v2Plan(bad); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestRunPlan(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"io.weight", "memory.max"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := runPlan(dir, []fileWrite{
		{File: "io.bfq.weight", Value: "500", AltFile: "io.weight", AltValue: "4950"},
		{File: "hugetlb.2MB.rsvd.max", Value: "1", Optional: true},
		{File: "memory.max", Value: "100"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := readTrim(t, filepath.Join(dir, "io.weight")); got != "4950" {
		t.Errorf("io.weight = %q", got)
	}
	if got := readTrim(t, filepath.Join(dir, "memory.max")); got != "100" {
		t.Errorf("memory.max = %q", got)
	}
	if err := runPlan(dir, []fileWrite{{File: "pids.max", Value: "1"}}); err == nil || !strings.Contains(err.Error(), "not available") {
		t.Errorf("missing controller file: err = %v", err)
	}
}

func TestParseIOStat(t *testing.T) {
	b := parseIOStat("8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n")
	want := Blkio{
		IoServiceBytesRecursive: []BlkioEntry{{8, 0, "Read", 4096}, {8, 0, "Write", 8192}},
		IoServicedRecursive:     []BlkioEntry{{8, 0, "Read", 1}, {8, 0, "Write", 2}},
	}
	if !reflect.DeepEqual(b, want) {
		t.Errorf("parseIOStat = %+v", b)
	}
}

// The v2 driver's process handling works in any cgroup2 tree, so on a
// hybrid host it runs against the unified mount.
func TestFS2Lifecycle(t *testing.T) {
	mount := unifiedForTest(t)
	m := newFS2(t, mount)
	c := startChild(t, "sleep 100 & echo $!; wait")
	if err := m.Apply(c.pid()); err != nil {
		t.Fatal(err)
	}
	c.release(t)
	grandchild, err := strconv.Atoi(c.readLine(t))
	if err != nil {
		t.Fatal(err)
	}
	pids, err := m.GetPids()
	if err != nil || !slices.Contains(pids, c.pid()) || !slices.Contains(pids, grandchild) {
		t.Fatalf("GetPids = %v, %v; want %d and %d", pids, err, c.pid(), grandchild)
	}

	if err := m.Freeze(true); err != nil {
		t.Fatal(err)
	}
	if ev, _ := readKeyValues(m.dir, "cgroup.events"); ev["frozen"] != 1 {
		t.Errorf("cgroup.events frozen = %d", ev["frozen"])
	}
	if frozen, err := Load(m.Paths(), false).IsFrozen(); Mode() == "v2" && (!frozen || err != nil) {
		t.Errorf("Load(...).IsFrozen() = %v, %v", frozen, err)
	}
	if frozen, err := m.IsFrozen(); !frozen || err != nil {
		t.Errorf("IsFrozen = %v, %v", frozen, err)
	}
	// The v2 freezer stops tasks like job control: state S or T, never R.
	if st := procState(t, grandchild); st == 'R' {
		t.Errorf("frozen process is running")
	}
	if err := m.Freeze(false); err != nil {
		t.Fatal(err)
	}
	if frozen, _ := m.IsFrozen(); frozen {
		t.Error("still frozen after thaw")
	}

	if ctrls, _ := readFile(m.dir, "cgroup.controllers"); strings.Contains(ctrls, "hugetlb") {
		if err := m.Set(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}}); err != nil {
			t.Fatal(err)
		}
		if got := readTrim(t, filepath.Join(m.dir, "hugetlb.2MB.max")); got != strconv.Itoa(4<<20) {
			t.Errorf("hugetlb.2MB.max = %s", got)
		}
	} else {
		t.Log("hugetlb not available in the cgroup2 tree; limit not tested")
	}
	if _, err := m.Stats(); err != nil {
		t.Errorf("Stats: %v", err)
	}

	sub := filepath.Join(m.dir, "nested")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(grandchild, syscall.SIGKILL)
	c.cmd.Process.Kill()
	c.wait(t)
	deadline := time.Now().Add(5 * time.Second)
	for pids, _ := m.GetPids(); len(pids) > 0 && time.Now().Before(deadline); pids, _ = m.GetPids() {
		time.Sleep(10 * time.Millisecond)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Destroy", m.dir)
	}
}

// Resources on a real cgroup v2 host (the VM); skipped on v1 and hybrid.
func TestFS2ResourcesOnV2(t *testing.T) {
	if os.Geteuid() != 0 || Mode() != "v2" {
		t.Skip("needs root on a cgroup v2 host")
	}
	mm, err := New("test", testPath(t), false, false)
	if err != nil {
		t.Fatal(err)
	}
	m := mm.(*fs2Manager)
	t.Cleanup(func() { m.Destroy(); os.Remove(filepath.Dir(m.dir)) })
	c := startChild(t, `x=$(head -c 50000000 /dev/zero | tr "\0" a); echo survived`)
	if err := m.Apply(c.pid()); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](16 << 20), Swap: ptr[int64](16 << 20)},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](10)},
		CPU:    &specs.LinuxCPU{Shares: ptr[uint64](1024), Quota: ptr[int64](50000)},
	}); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"memory.max": strconv.Itoa(16 << 20), "memory.swap.max": "0", "pids.max": "10",
		"cpu.weight": "39", "cpu.max": "50000 100000",
	} {
		if got := readTrim(t, filepath.Join(m.dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	st, err := m.Stats()
	if err != nil || st.Memory.Usage.Usage == 0 || st.Pids.Current == 0 {
		t.Errorf("Stats = %+v, %v", st, err)
	}
	c.release(t)
	if sig := killedBy(c.wait(t)); sig != syscall.SIGKILL {
		t.Errorf("want the shell OOM-killed, got %v", sig)
	}
	if n, err := m.OOMKillCount(); err != nil || n < 1 {
		t.Errorf("OOMKillCount = %d, %v", n, err)
	}
}
