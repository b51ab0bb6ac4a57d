package cgroupv2

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The kernel must give a pure v2 layout, or the rest proves nothing.
func TestKernelIsPureV2(t *testing.T) {
	if !isCgroup2(cgroupMount) {
		t.Fatalf("%s is not a cgroup2 mount", cgroupMount)
	}
	if exists(filepath.Join(cgroupMount, "unified")) || exists(filepath.Join(cgroupMount, "memory", "memory.limit_in_bytes")) {
		t.Fatalf("%s looks hybrid or v1", cgroupMount)
	}
	controllers := strings.Fields(readCgroupFile(t, cgroupMount, "cgroup.subtree_control"))
	for _, want := range []string{"cpu", "memory", "pids", "io", "cpuset"} {
		if !slices.Contains(controllers, want) {
			t.Errorf("controller %s not enabled in the root's subtree_control %v", want, controllers)
		}
	}
	if _, err := procCgroupDir(os.Getpid()); err != nil {
		t.Error(err)
	}
}

func limitsResources() *specs.LinuxResources {
	return &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20))},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(20))},
		CPU: &specs.LinuxCPU{
			Quota:  ptr(int64(50000)),
			Period: ptr(uint64(100000)),
			Shares: ptr(uint64(1024)),
		},
	}
}

// linux.resources lands in the v2 files of the container's own cgroup, which
// the container also sees as its cgroup namespace root.
func TestLimitsApplied(t *testing.T) {
	rt := newRuntime(t)
	c := newContainer(t, rt, `cat /proc/self/cgroup /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; echo ready; exec sleep 1000`, limitsResources())
	c.createStart()
	st := c.state()
	if st.Status != "running" || st.Pid <= 0 {
		t.Fatalf("state after start: %+v", st)
	}
	dir, err := procCgroupDir(st.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if dir != c.cgroupDir() {
		t.Fatalf("container process is in %s, linux.cgroupsPath says %s", dir, c.cgroupDir())
	}
	for file, want := range map[string]string{
		"memory.max": "67108864",
		"pids.max":   "20",
		"cpu.max":    "50000 100000",
		// runc's linear conversion: 1 + ((shares - 2) * 9999) / 262142.
		"cpu.weight": "39",
	} {
		if got := readCgroupFile(t, dir, file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	// Inside: the cgroup namespace hides the path, and the mounted cgroupfs
	// is the container's own cgroup.
	if want := "0::/\n67108864\n20\nready\n"; c.output() != want {
		t.Errorf("container saw %q, want %q", c.output(), want)
	}
}

// An allocation past memory.max is OOM-killed: the process dies of SIGKILL
// (exit 137 from `run`) and memory.events counts the kill.
func TestMemoryLimitOOMKill(t *testing.T) {
	rt := newRuntime(t)
	// dd's 256M buffer is touched by the read from /dev/zero.
	c := newContainer(t, rt, `exec dd if=/dev/zero of=/dev/null bs=256M count=1`, limitsResources())
	res := rt.run("run", "--keep", "--bundle", c.bundle, c.id)
	if res.code != 137 {
		t.Fatalf("want exit 137 (SIGKILL by the OOM killer): %v", res)
	}
	events := flatKeyed(t, c.cgroupDir(), "memory.events")
	if events["oom_kill"] < 1 {
		t.Errorf("memory.events oom_kill = %d, want >= 1 (%v)", events["oom_kill"], events)
	}
}

// Forks past pids.max fail, and the kernel counts the refusals.
func TestPidsLimit(t *testing.T) {
	rt := newRuntime(t)
	// busybox sh exits when a fork fails, so a child shell forks until it
	// hits the limit and dies; its sleeps stay behind, reparented to the
	// container's init, which then reports.
	script := `sh -c 'while :; do sleep 1000 & done'; echo ready; exec sleep 1000`
	c := newContainer(t, rt, script, limitsResources())
	c.createStart()
	dir := c.cgroupDir()
	// At the limit: init + 18 sleeps, plus the forking shell until it exits.
	if current := readCgroupFile(t, dir, "pids.current"); current != "19" && current != "20" {
		t.Errorf("pids.current = %s, want the limit reached (19 or 20 of max 20)", current)
	}
	if events := flatKeyed(t, dir, "pids.events"); events["max"] < 1 {
		t.Errorf("pids.events max = %d, want >= 1: forks past the limit were not refused", events["max"])
	}
	if !strings.Contains(c.output(), "can't fork") {
		t.Errorf("the shell reported no failed fork: %q", c.output())
	}
}

// Device rules are enforced by an eBPF program on v2. A deny-all rule plus
// an allow for /dev/null blocks /dev/kmsg (a device node the spec creates),
// while runc's default devices (/dev/zero among them) stay usable: runc
// appends allow rules for them after the spec's own.
func TestDeviceRules(t *testing.T) {
	rt := newRuntime(t)
	script := `for d in null zero kmsg; do if true >/dev/$d; then echo "$d open"; else echo "$d denied"; fi; done 2>/dev/null; echo ready`
	res := limitsResources()
	res.Devices = []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"},
	}
	c := newContainer(t, rt, script, res)
	c.spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/kmsg", Type: "c", Major: 1, Minor: 11, FileMode: ptr(os.FileMode(0o666))}}
	c.writeSpec()
	run := rt.run("run", "--bundle", c.bundle, c.id)
	if run.code != 0 {
		t.Fatal(run)
	}
	if want := "null open\nzero open\nkmsg denied\nready\n"; run.stdout != want {
		t.Errorf("device access inside: %q, want %q (%v)", run.stdout, want, run)
	}
}

// pause freezes the cgroup through cgroup.freeze and waits for the kernel to
// report it frozen; resume undoes both.
func TestPauseResume(t *testing.T) {
	rt := newRuntime(t)
	c := newContainer(t, rt, `echo ready; exec sleep 1000`, limitsResources())
	c.createStart()
	dir := c.cgroupDir()

	rt.mustRun("pause", c.id)
	if got := readCgroupFile(t, dir, "cgroup.freeze"); got != "1" {
		t.Errorf("cgroup.freeze after pause = %q, want 1", got)
	}
	if ev := flatKeyed(t, dir, "cgroup.events"); ev["frozen"] != 1 {
		t.Errorf("cgroup.events after pause: %v, want frozen 1", ev)
	}
	if st := c.state(); st.Status != "paused" {
		t.Errorf("status after pause = %q", st.Status)
	}

	rt.mustRun("resume", c.id)
	if got := readCgroupFile(t, dir, "cgroup.freeze"); got != "0" {
		t.Errorf("cgroup.freeze after resume = %q, want 0", got)
	}
	if ev := flatKeyed(t, dir, "cgroup.events"); ev["frozen"] != 0 {
		t.Errorf("cgroup.events after resume: %v, want frozen 0", ev)
	}
	if st := c.state(); st.Status != "running" {
		t.Errorf("status after resume = %q", st.Status)
	}
}

// ps lists the cgroup's processes; events --stats reads v2 stat files.
func TestPsAndStats(t *testing.T) {
	rt := newRuntime(t)
	c := newContainer(t, rt, `sleep 1000 & echo ready; exec sleep 1000`, limitsResources())
	c.createStart()
	st := c.state()

	ps := rt.mustRun("ps", "--format", "json", c.id)
	var pids []int
	if err := json.Unmarshal([]byte(ps.stdout), &pids); err != nil {
		t.Fatalf("ps JSON: %v\n%s", err, ps.stdout)
	}
	if len(pids) != 2 || !slices.Contains(pids, st.Pid) {
		t.Errorf("ps = %v, want the init pid %d and its one child", pids, st.Pid)
	}

	ev := rt.mustRun("events", "--stats", c.id)
	var event struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Data struct {
			Memory struct {
				Usage struct {
					Usage uint64 `json:"usage"`
					Limit uint64 `json:"limit"`
				} `json:"usage"`
			} `json:"memory"`
			Pids struct {
				Current uint64 `json:"current"`
				Limit   uint64 `json:"limit"`
			} `json:"pids"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(ev.stdout), &event); err != nil {
		t.Fatalf("events JSON: %v\n%s", err, ev.stdout)
	}
	if event.Type != "stats" || event.ID != c.id {
		t.Errorf("event type/id = %q/%q", event.Type, event.ID)
	}
	if u := event.Data.Memory.Usage; u.Usage == 0 || u.Limit != 64<<20 {
		t.Errorf("memory usage %d, limit %d; want usage > 0 and limit %d", u.Usage, u.Limit, 64<<20)
	}
	if p := event.Data.Pids; p.Current != 2 || p.Limit != 20 {
		t.Errorf("pids current %d limit %d, want 2 and 20", p.Current, p.Limit)
	}
}

// delete removes the container's cgroup directory.
func TestDeleteRemovesCgroup(t *testing.T) {
	rt := newRuntime(t)
	c := newContainer(t, rt, `echo ready; exec sleep 1000`, limitsResources())
	c.createStart()
	dir := c.cgroupDir()
	if !exists(dir) {
		t.Fatalf("%s missing while the container runs", dir)
	}
	rt.mustRun("kill", c.id, "KILL")
	if !waitFor(commandTimeout, func() bool { return c.state().Status == "stopped" }) {
		t.Fatalf("container not stopped after SIGKILL")
	}
	rt.mustRun("delete", c.id)
	// The kernel may take a moment to release the last task's reference.
	if !waitFor(5*time.Second, func() bool { return !exists(dir) }) {
		t.Errorf("%s still exists after delete", dir)
	}
}
