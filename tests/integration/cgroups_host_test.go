package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// These run on the host's cgroups (hybrid v1 on the development machines);
// tests/cgroupv2 covers pure v2 in a VM.

// cgroupDir finds the container's directory of a v1 controller from its
// init's /proc/<pid>/cgroup.
func cgroupDir(t *testing.T, pid int, controller string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 {
			for _, c := range strings.Split(parts[1], ",") {
				if c == controller {
					return filepath.Join("/sys/fs/cgroup", controller, parts[2])
				}
			}
		}
	}
	t.Skipf("no v1 %s controller on this host", controller)
	return ""
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func withResources(edit func(*specs.LinuxResources)) func(*specs.Spec) {
	return func(s *specs.Spec) {
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		edit(s.Linux.Resources)
	}
}

func TestCgroupLimitsAndLifecycle(t *testing.T) {
	r := newRuntime(t)
	mem, pids, shares, quota, period := int64(64<<20), int64(20), uint64(512), int64(50000), uint64(100000)
	id := newID(t)
	bundle := newBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "sleep 1000 & sleep 1000 & wait"}
		s.Linux.CgroupsPath = "/rootlet-it/" + id
		withResources(func(res *specs.LinuxResources) {
			res.Memory = &specs.LinuxMemory{Limit: &mem}
			res.Pids = &specs.LinuxPids{Limit: &pids}
			res.CPU = &specs.LinuxCPU{Shares: &shares, Quota: &quota, Period: &period, Cpus: "0"}
		})(s)
	})
	r.createStarted(id, bundle)
	pid := r.state(id).Pid
	memDir := cgroupDir(t, pid, "memory")
	if !strings.HasSuffix(memDir, "/rootlet-it/"+id) {
		t.Errorf("cgroupsPath not honoured: %s", memDir)
	}
	checks := map[string]string{
		filepath.Join(memDir, "memory.limit_in_bytes"):               "67108864",
		filepath.Join(cgroupDir(t, pid, "pids"), "pids.max"):         "20",
		filepath.Join(cgroupDir(t, pid, "cpu"), "cpu.shares"):        "512",
		filepath.Join(cgroupDir(t, pid, "cpu"), "cpu.cfs_quota_us"):  "50000",
		filepath.Join(cgroupDir(t, pid, "cpu"), "cpu.cfs_period_us"): "100000",
		filepath.Join(cgroupDir(t, pid, "cpuset"), "cpuset.cpus"):    "0",
	}
	for file, want := range checks {
		if got := readTrim(t, file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}

	t.Run("ps lists the init and its children", func(t *testing.T) {
		var got []int
		if err := json.Unmarshal([]byte(r.on(t).mustRun("ps", "--format", "json", id).stdout), &got); err != nil {
			t.Fatal(err)
		}
		if len(got) < 3 || !containsInt(got, pid) {
			t.Errorf("ps = %v, want the init %d and two sleeps", got, pid)
		}
	})
	t.Run("events --stats", func(t *testing.T) {
		out := r.on(t).mustRun("events", "--stats", id).stdout
		var ev struct {
			Type string `json:"type"`
			ID   string `json:"id"`
			Data struct {
				Memory struct {
					Usage struct {
						Usage uint64 `json:"usage"`
					} `json:"usage"`
				} `json:"memory"`
				Pids struct {
					Current uint64 `json:"current"`
				} `json:"pids"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(out), &ev); err != nil {
			t.Fatalf("%v: %q", err, out)
		}
		if ev.Type != "stats" || ev.ID != id || ev.Data.Memory.Usage.Usage == 0 || ev.Data.Pids.Current < 3 {
			t.Errorf("stats event %q", out)
		}
	})
	t.Run("update", func(t *testing.T) {
		r := r.on(t)
		r.mustRun("update", "--memory", "128M", "--pids-limit", "30", id)
		if got := readTrim(t, filepath.Join(memDir, "memory.limit_in_bytes")); got != "134217728" {
			t.Errorf("memory after update: %s", got)
		}
		if got := readTrim(t, filepath.Join(cgroupDir(t, pid, "pids"), "pids.max")); got != "30" {
			t.Errorf("pids after update: %s", got)
		}
		cmd := r.command("update", "-r", "-", id)
		cmd.Stdin = strings.NewReader(`{"memory":{"limit":100663296}}`)
		if res := r.wait(cmd); res.code != 0 {
			t.Fatalf("update -r -: %v", res)
		}
		if got := readTrim(t, filepath.Join(memDir, "memory.limit_in_bytes")); got != "100663296" {
			t.Errorf("memory after update -r: %s", got)
		}
	})
	t.Run("pause and resume", func(t *testing.T) {
		r := r.on(t)
		r.mustRun("pause", id)
		if st := r.state(id).Status; st != "paused" {
			t.Errorf("status after pause: %s", st)
		}
		if got := readTrim(t, filepath.Join(cgroupDir(t, pid, "freezer"), "freezer.state")); got != "FROZEN" {
			t.Errorf("freezer.state = %s", got)
		}
		r.mustRun("resume", id)
		if st := r.state(id).Status; st != "running" {
			t.Errorf("status after resume: %s", st)
		}
	})
	t.Run("kill --all of a paused container, then no leftovers", func(t *testing.T) {
		r := r.on(t)
		r.mustRun("pause", id)
		r.mustRun("kill", "--all", id, "KILL")
		r.waitStatus(id, "stopped")
		r.mustRun("delete", id)
		for _, ctrl := range []string{"memory", "pids", "cpu", "freezer", "devices"} {
			dir := filepath.Join("/sys/fs/cgroup", ctrl, "rootlet-it", id)
			if _, err := os.Stat(dir); err == nil {
				t.Errorf("%s remains after delete", dir)
			}
		}
		if processExists(t, "sleep 1000") {
			// Other tests do not run `sleep 1000` with this marker parent;
			// give the kernel a moment to reap before failing.
			time.Sleep(200 * time.Millisecond)
			if processExists(t, "sleep 1000") {
				t.Error("a sleep of the container survived")
			}
		}
	})
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func TestCgroupOOMAndPidsAndDevices(t *testing.T) {
	r := newRuntime(t)
	t.Run("allocation past the memory limit is OOM-killed", func(t *testing.T) {
		limit := int64(16 << 20)
		res := r.on(t).runContainer(func(s *specs.Spec) {
			s.Process.Args = []string{"sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived"}
			withResources(func(res *specs.LinuxResources) { res.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &limit} })(s)
		})
		if res.code != 137 || strings.Contains(res.stdout, "survived") {
			t.Errorf("want the OOM kill's exit 137 under a 16 MiB limit: %v", res)
		}
	})
	t.Run("forks past pids.max fail", func(t *testing.T) {
		limit := int64(8)
		res := r.on(t).runContainer(func(s *specs.Spec) {
			s.Process.Args = []string{"sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 2 & done; wait; echo done"}
			withResources(func(res *specs.LinuxResources) { res.Pids = &specs.LinuxPids{Limit: &limit} })(s)
		})
		if !strings.Contains(res.stderr+res.stdout, "fork") && !strings.Contains(res.stderr+res.stdout, "Resource temporarily unavailable") {
			t.Errorf("12 forks under pids.max=8 did not fail: %v", res)
		}
	})
	t.Run("a denied device cannot be opened", func(t *testing.T) {
		major, minor := int64(1), int64(11) // /dev/kmsg
		res := r.on(t).runContainer(func(s *specs.Spec) {
			s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev/kmsg", Type: "c", Major: major, Minor: minor})
			withResources(func(res *specs.LinuxResources) {
				res.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
			})(s)
			s.Process.Args = []string{"sh", "-c", "head -c0 /dev/null && echo null-ok; head -c1 /dev/kmsg >/dev/null && echo kmsg-opened"}
		})
		if !strings.Contains(res.stdout, "null-ok") {
			t.Errorf("/dev/null not usable under deny-all + defaults: %v", res)
		}
		if strings.Contains(res.stdout, "kmsg-opened") {
			t.Errorf("/dev/kmsg opened despite the device rules: %v", res)
		}
	})
}

// A create that fails leaves no cgroup behind.
func TestFailedCreateLeavesNoCgroup(t *testing.T) {
	r := newRuntime(t)
	id := newID(t)
	bundle := newBundle(t, func(s *specs.Spec) {
		s.Linux.CgroupsPath = "/rootlet-badinput/" + id
		s.Process.Args = []string{"/nonexistent"}
	})
	res := r.mustFail("create", "--bundle", bundle, id)
	if !strings.Contains(res.stderr, "no such file") && !strings.Contains(res.stderr, "not found") {
		t.Errorf("error does not say why: %q", res.stderr)
	}
	for _, ctrl := range []string{"memory", "pids", "cpu", "devices", "freezer"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", ctrl, "rootlet-badinput", id)); err == nil {
			t.Errorf("cgroup %s left behind by a failed create", ctrl)
		}
	}
	if len(r.ids()) != 0 {
		t.Error("failed container listed")
	}
}
