package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// waitPidGone waits until pid has been reaped (not even a zombie).
func waitPidGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// startWithPid starts `sleep 1000` on the host with exactly this pid, by
// setting ns_last_pid just before forking; other forks on the machine can
// take the pid first, so it retries.
func startWithPid(t *testing.T, pid int) *exec.Cmd {
	t.Helper()
	for try := 0; try < 200; try++ {
		cmd := exec.Command("sleep", "1000")
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0); err != nil {
			t.Skipf("cannot steer pid allocation: %v", err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if cmd.Process.Pid == pid {
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			return cmd
		}
		cmd.Process.Kill()
		cmd.Wait()
	}
	t.Skipf("could not get pid %d back", pid)
	return nil
}

// A container whose init died is "stopped" even when an unrelated process
// took the init's pid: state, kill and delete must not act on the impostor
// (runc compares the process start time recorded at create).
func TestStateNotFooledByPidReuse(t *testing.T) {
	r := newRuntime(t)
	id := sleepingContainer(t, r)
	pid := r.state(id).Pid
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !waitPidGone(pid, 10*time.Second) {
		t.Skipf("the killed init %d was never reaped on this host", pid)
	}
	impostor := startWithPid(t, pid)

	if st := r.state(id); st.Status != "stopped" {
		t.Errorf("status %q with pid %d reused by an unrelated process, want stopped", st.Status, pid)
	}
	if res := r.run("kill", id, "KILL"); res.code == 0 || !strings.Contains(res.stderr, "container not running") {
		t.Errorf("kill of the dead container: want \"container not running\": %v", res)
	}
	r.mustRun("delete", id)
	time.Sleep(100 * time.Millisecond)
	if err := impostor.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the runtime killed the unrelated process that reused the init's pid")
	}
	if ids := r.ids(); len(ids) != 0 {
		t.Errorf("list -q after delete: %v", ids)
	}
}

// `run -d` (what Docker-like managers do) then an outside SIGKILL of the
// init: stopped, and deletable without --force.
func TestDetachedRunKilledFromOutside(t *testing.T) {
	r := newRuntime(t)
	id := newID(t)
	r.mustRun("run", "-d", "--bundle", newBundle(t, withArgs("sleep", "1000")), id)
	st := r.state(id)
	if st.Status != "running" {
		t.Fatalf("status after run -d: %s", st.Status)
	}
	if err := syscall.Kill(st.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r.waitStatus(id, "stopped")
	r.mustRun("delete", id)
	if ids := r.ids(); len(ids) != 0 {
		t.Errorf("list -q after delete: %v", ids)
	}
}

// A created container can be killed; it is then stopped, cannot be started,
// and deletes without --force.
func TestKillCreatedContainer(t *testing.T) {
	r := newRuntime(t)
	shared := hostDir(t)
	bundle := newBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "touch /shared/ran; sleep 1000"}
		addMount(s, bindMount(shared, "/shared"))
	})
	id := newID(t)
	r.mustRun("create", "--bundle", bundle, id)
	r.mustRun("kill", id, "KILL")
	r.waitStatus(id, "stopped")
	if res := r.mustFail("start", id); !strings.Contains(res.stderr, "stopped") {
		t.Errorf("start of a killed created container: %v", res)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(shared, "ran")); err == nil {
		t.Error("the program of a killed created container ran")
	}
	r.mustRun("delete", id)
}

// Commands that need a live container say "container not running", the
// phrase managers match (as for kill).
func TestNotRunningErrors(t *testing.T) {
	r := newRuntime(t)
	id := sleepingContainer(t, r)
	r.mustRun("kill", id, "KILL")
	r.waitStatus(id, "stopped")
	for _, args := range [][]string{
		{"kill", id, "KILL"},
		{"update", "--pids-limit", "7", id},
		{"pause", id},
	} {
		if res := r.mustFail(args...); !strings.Contains(res.stderr, "container not running") {
			t.Errorf("want \"container not running\": %v", res)
		}
	}
}

// A create that fails late (a mount whose source does not exist) leaves no
// state, no process, no cgroup and no mount behind.
func TestFailedMountLeavesNothing(t *testing.T) {
	r := newRuntime(t)
	id := newID(t)
	missing := filepath.Join(t.TempDir(), "does-not-exist")
	bundle := newBundle(t, func(s *specs.Spec) {
		s.Linux.CgroupsPath = "/rootlet-badmount/" + id
		addMount(s, bindMount(missing, "/data"))
		s.Process.Args = []string{"sleep", "31337"}
	})
	res := r.mustFail("create", "--bundle", bundle, id)
	if !strings.Contains(strings.ToLower(res.stderr), "no such file") {
		t.Errorf("error does not say why: %v", res)
	}
	if ids := r.ids(); len(ids) != 0 {
		t.Errorf("failed container listed: %v", ids)
	}
	r.mustFail("state", id)
	for _, ctrl := range []string{"memory", "pids", "cpu", "devices", "freezer"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", ctrl, "rootlet-badmount", id)); err == nil {
			t.Errorf("%s cgroup left behind", ctrl)
		}
	}
	if m := mountsMentioning(t, bundle); len(m) != 0 {
		t.Errorf("mounts of the bundle left on the host: %q", m)
	}
	if processExists(t, "sleep 31337") {
		t.Error("the init of the failed container is alive")
	}
	// The same id is free again.
	fixed := newBundle(t, withArgs("true"))
	r.mustRun("create", "--bundle", fixed, id)
	r.mustRun("delete", "--force", id)
}

// Many `run -d` then `delete --force` at once: all succeed and nothing of
// the containers survives (processes, cgroups, state).
func TestConcurrentRunDetachedAndForceDelete(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	r := newRuntime(t)
	const total, parallel = 48, 16
	marker := strconv.Itoa(40000 + os.Getpid()%20000)
	bundle := newBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "sleep " + marker + " & exec sleep " + marker}
	})
	prefix := newID(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	each := func(args func(id string) []string) {
		sem := make(chan struct{}, parallel)
		for i := 0; i < total; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func(id string) {
				defer wg.Done()
				defer func() { <-sem }()
				if res := r.wait(r.command(args(id)...)); res.code != 0 {
					mu.Lock()
					failures = append(failures, res.String())
					mu.Unlock()
				}
			}(fmt.Sprintf("%s-%02d", prefix, i))
		}
		wg.Wait()
	}
	each(func(id string) []string { return []string{"run", "-d", "--bundle", bundle, id} })
	if n := len(r.ids()); n != total-len(failures) {
		t.Errorf("%d containers listed, want %d", n, total-len(failures))
	}
	var cgroups []string
	for _, id := range r.ids() {
		cgroups = append(cgroups, cgroupDir(t, r.state(id).Pid, "memory"), cgroupDir(t, r.state(id).Pid, "pids"))
	}
	each(func(id string) []string { return []string{"delete", "--force", id} })
	for _, f := range failures {
		t.Error(f)
	}
	if ids := r.ids(); len(ids) != 0 {
		t.Errorf("containers left: %v", ids)
	}
	for _, dir := range cgroups {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("cgroup %s left behind", dir)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if processExists(t, "sleep "+marker) {
		t.Errorf("container processes (sleep %s) survived delete --force", marker)
	}
}
