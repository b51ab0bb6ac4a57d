package integration

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A relative linux.cgroupsPath is below the runtime's own cgroup (runc's fs
// driver); ours is the test's, as the runtime is our child.
func TestRelativeCgroupsPath(t *testing.T) {
	id := newID(t)
	parent := "rel-" + id
	// Registered before newRuntime, so it runs after the container's delete.
	t.Cleanup(func() {
		// runc leaves the intermediate directory; remove it either way.
		for _, pattern := range []string{"/sys/fs/cgroup/*/", "/sys/fs/cgroup/*/*/", "/sys/fs/cgroup/*/*/*/"} {
			dirs, _ := filepath.Glob(pattern + parent)
			for _, dir := range dirs {
				os.Remove(filepath.Join(dir, "c"))
				os.Remove(dir)
			}
		}
	})
	r := newRuntime(t)
	r.createStarted(id, newBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sleep", "1000"}
		s.Linux.CgroupsPath = parent + "/c"
	}))
	pid := r.state(id).Pid
	for _, ctrl := range []string{"memory", "pids"} {
		want := filepath.Join(cgroupDir(t, os.Getpid(), ctrl), parent, "c")
		if got := cgroupDir(t, pid, ctrl); got != want {
			t.Errorf("%s cgroup %s, want %s", ctrl, got, want)
		}
	}
}

// pidsIn lists the pids of a cgroup directory.
func pidsIn(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	return strings.Fields(string(data))
}

// A container sharing the host's pid namespace: its init's death does not
// take its children with it (no pid-namespace teardown), so `delete` must
// kill what is left in the cgroup (runc does), and `kill --all` must reach
// them.
func TestHostPidNamespaceChildrenAreKilled(t *testing.T) {
	r := newRuntime(t)
	// start returns the container's pids cgroup once its two sleeps run;
	// whatever the runtime leaves there is killed when the subtest ends, so
	// a failure does not leak processes into later tests.
	start := func(t *testing.T, r *runtime, id, marker string) string {
		r.createStarted(id, newBundle(t, func(s *specs.Spec) {
			removeNamespace(s, specs.PIDNamespace)
			s.Process.Args = []string{"sh", "-c", "sleep " + marker + " & sleep " + marker + " & wait"}
		}))
		dir := cgroupDir(t, r.state(id).Pid, "pids")
		t.Cleanup(func() {
			for _, p := range pidsIn(t, dir) {
				if pid, err := strconv.Atoi(p); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		})
		deadline := time.Now().Add(10 * time.Second)
		for len(pidsIn(t, dir)) < 3 {
			if time.Now().After(deadline) {
				t.Fatalf("the container's sleeps never started: %v", pidsIn(t, dir))
			}
			time.Sleep(20 * time.Millisecond)
		}
		return dir
	}
	base := 20000 + os.Getpid()%10000

	t.Run("delete after the init was killed", func(t *testing.T) {
		r := r.on(t)
		id, marker := newID(t), strconv.Itoa(base)
		dir := start(t, r, id, marker)
		r.mustRun("kill", id, "KILL") // the init only
		r.waitStatus(id, "stopped")
		r.mustRun("delete", id)
		time.Sleep(100 * time.Millisecond)
		if processExists(t, "sleep "+marker) {
			t.Error("children of a host-pid-namespace container survived its delete")
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("cgroup %s left behind", dir)
		}
	})
	t.Run("kill --all", func(t *testing.T) {
		r := r.on(t)
		id, marker := newID(t), strconv.Itoa(base+1)
		start(t, r, id, marker)
		r.mustRun("kill", "--all", id, "KILL")
		r.waitStatus(id, "stopped")
		deadline := time.Now().Add(5 * time.Second)
		for processExists(t, "sleep "+marker) {
			if time.Now().After(deadline) {
				t.Fatal("kill --all left the container's children alive")
			}
			time.Sleep(20 * time.Millisecond)
		}
		r.mustRun("delete", id)
	})
}

// update changes the CPU controls of a running container.
func TestUpdateCPU(t *testing.T) {
	r := newRuntime(t)
	id := sleepingContainer(t, r)
	pid := r.state(id).Pid
	r.mustRun("update", "--cpu-share", "256", "--cpu-period", "50000", "--cpu-quota", "20000", "--cpuset-cpus", "0", id)
	cpu, cpuset := cgroupDir(t, pid, "cpu"), cgroupDir(t, pid, "cpuset")
	for file, want := range map[string]string{
		filepath.Join(cpu, "cpu.shares"):        "256",
		filepath.Join(cpu, "cpu.cfs_period_us"): "50000",
		filepath.Join(cpu, "cpu.cfs_quota_us"):  "20000",
		filepath.Join(cpuset, "cpuset.cpus"):    "0",
	} {
		if got := readTrim(t, file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	// Via a resources document, as containerd sends it.
	cmd := r.command("update", "-r", "-", id)
	cmd.Stdin = strings.NewReader(`{"cpu":{"shares":768,"quota":-1}}`)
	if res := r.wait(cmd); res.code != 0 {
		t.Fatalf("update -r -: %v", res)
	}
	if got := readTrim(t, filepath.Join(cpu, "cpu.shares")); got != "768" {
		t.Errorf("cpu.shares after update -r: %s", got)
	}
	if got := readTrim(t, filepath.Join(cpu, "cpu.cfs_quota_us")); got != "-1" {
		t.Errorf("cpu.cfs_quota_us after update -r with quota -1: %s", got)
	}
	// An invalid value is refused and changes nothing.
	r.mustFail("update", "--cpuset-cpus", "63", id)
	if got := readTrim(t, filepath.Join(cpuset, "cpuset.cpus")); got != "0" {
		t.Errorf("cpuset.cpus after a refused update: %s", got)
	}
}

// memory.swap in the spec is memory+swap (memsw) on v1.
func TestMemorySwapLimit(t *testing.T) {
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); err != nil {
		t.Skip("no swap accounting on this host")
	}
	r := newRuntime(t)
	limit, swap := int64(64<<20), int64(96<<20)
	id := newID(t)
	r.createStarted(id, newBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sleep", "1000"}
		withResources(func(res *specs.LinuxResources) { res.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &swap} })(s)
	}))
	dir := cgroupDir(t, r.state(id).Pid, "memory")
	if got := readTrim(t, filepath.Join(dir, "memory.limit_in_bytes")); got != "67108864" {
		t.Errorf("memory.limit_in_bytes = %s", got)
	}
	if got := readTrim(t, filepath.Join(dir, "memory.memsw.limit_in_bytes")); got != "100663296" {
		t.Errorf("memory.memsw.limit_in_bytes = %s, want 96 MiB", got)
	}
	r.mustRun("update", "--memory", "128M", "--memory-swap", "256M", id)
	if got := readTrim(t, filepath.Join(dir, "memory.memsw.limit_in_bytes")); got != "268435456" {
		t.Errorf("memsw after update = %s, want 256 MiB", got)
	}
}

// Device nodes a container makes itself are guarded by the devices cgroup
// too: with deny-all rules a node for /dev/kmsg (c 1:11) made with CAP_MKNOD
// cannot be opened, while a new node for /dev/zero (allowed by default) can.
// (runc's defaults allow mknod of any device, "m" on *:*, so the guard is on
// open.)
func TestDevicesCgroupGuardsNodesMadeInside(t *testing.T) {
	r := newRuntime(t)
	res := r.runContainer(func(s *specs.Spec) {
		caps := []string{"CAP_MKNOD"}
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
		addMount(s, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"})
		withResources(func(res *specs.LinuxResources) {
			res.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
		})(s)
		s.Process.Args = []string{"sh", "-c", `mknod /tmp/kmsg c 1 11 && mknod /tmp/zero c 1 5 || exit 99
			head -c1 /tmp/zero | wc -c
			head -c1 /tmp/kmsg >/dev/null && echo opened-kmsg; exit 0`}
	})
	if res.code != 0 {
		t.Fatalf("%v", res)
	}
	if strings.Contains(res.stdout, "opened-kmsg") || !strings.Contains(res.stderr, "Operation not permitted") {
		t.Errorf("a denied device node made inside the container opened: %v", res)
	}
	if strings.TrimSpace(strings.Split(res.stdout, "\n")[0]) != "1" {
		t.Errorf("a node for an allowed device does not work: %v", res)
	}
}

// The default devices (null, zero, full, random, urandom, tty, ptmx) stay
// usable whatever the spec's device rules say: runc appends its allow rules
// after the spec's, so deny-all + allow c 1:3 still lets /dev/zero open.
func TestDefaultDevicesSurviveDenyRules(t *testing.T) {
	r := newRuntime(t)
	major, minor := int64(1), int64(3)
	out := r.output(func(s *specs.Spec) {
		withResources(func(res *specs.LinuxResources) {
			res.Devices = []specs.LinuxDeviceCgroup{
				{Allow: false, Access: "rwm"},
				{Allow: true, Type: "c", Major: &major, Minor: &minor, Access: "rwm"},
			}
		})(s)
		s.Process.Args = []string{"sh", "-c", "head -c1 /dev/zero | wc -c; head -c1 /dev/urandom | wc -c; echo x > /dev/null && echo null-ok"}
	})
	if strings.Fields(out)[0] != "1" || strings.Fields(out)[1] != "1" || !strings.Contains(out, "null-ok") {
		t.Errorf("default devices under deny rules: %q", out)
	}
}

// `events` streams an "oom" event when the kernel OOM-kills a process of
// the container (the container itself keeps running here).
func TestEventsReportsOOM(t *testing.T) {
	r := newRuntime(t)
	limit := int64(16 << 20)
	id := newID(t)
	r.createStarted(id, newBundle(t, func(s *specs.Spec) {
		withResources(func(res *specs.LinuxResources) { res.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &limit} })(s)
		// tail keeps every "line" of /dev/zero in memory.
		s.Process.Args = []string{"sh", "-c", "sleep 1; tail /dev/zero; exec sleep 1000"}
	}))
	events := r.command("events", "--interval", "1s", id)
	outFile := captureFile(t)
	events.Stdout = outFile
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { events.Process.Signal(syscall.SIGTERM); events.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var sawOOM, sawStats bool
		sc := bufio.NewScanner(strings.NewReader(readAll(outFile)))
		for sc.Scan() {
			var ev struct {
				Type string `json:"type"`
				ID   string `json:"id"`
			}
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("events printed a non-JSON line %q", sc.Text())
			}
			if ev.ID != id {
				t.Errorf("event for %q", ev.ID)
			}
			sawOOM = sawOOM || ev.Type == "oom"
			sawStats = sawStats || ev.Type == "stats"
		}
		if sawOOM && sawStats {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no oom (%v) or stats (%v) event after the OOM kill:\n%s", sawOOM, sawStats, readAll(outFile))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := r.state(id).Status; st != "running" {
		t.Errorf("status after the OOM kill of a child: %s", st)
	}
}
