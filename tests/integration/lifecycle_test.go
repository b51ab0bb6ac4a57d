package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRunExitCode(t *testing.T) {
	r := newRuntime(t)
	if res := r.runContainer(shell("exit 3")); res.code != 3 {
		t.Errorf("want exit 3: %v", res)
	}
	if res := r.runContainer(shell("true")); res.code != 0 {
		t.Errorf("want exit 0: %v", res)
	}
}

func TestRunKilledBySignal(t *testing.T) {
	r := newRuntime(t)
	// As pid 1 of its own pid namespace sh could not be killed by its own
	// SIGKILL, so this container shares the host's pid namespace.
	res := r.runContainer(func(s *specs.Spec) {
		removeNamespace(s, specs.PIDNamespace)
		s.Process.Args = []string{"sh", "-c", "kill -9 $$"}
	})
	if res.code != 137 {
		t.Errorf("want 128+SIGKILL=137: %v", res)
	}
}

func TestRunKilledFromOutside(t *testing.T) {
	r := newRuntime(t)
	bundle := newBundle(t, withArgs("sleep", "100"))
	id := newID(t)
	cmd := r.command("run", "--bundle", bundle, id)
	done := make(chan result, 1)
	go func() { done <- r.wait(cmd) }()
	r.waitStatus(id, "running")
	r.mustRun("kill", id, "KILL")
	select {
	case res := <-done:
		if res.code != 137 {
			t.Errorf("want 137: %v", res)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after the container was killed")
	}
	// run deletes the container it ran.
	if ids := r.ids(); len(ids) != 0 {
		t.Errorf("list -q after run: %v", ids)
	}
}

func TestRunStdout(t *testing.T) {
	r := newRuntime(t)
	res := r.runContainer(withArgs("echo", "hello"))
	if res.code != 0 || res.stdout != "hello\n" {
		t.Errorf("want stdout \"hello\\n\": %v", res)
	}
	res = r.runContainer(shell("echo oops >&2"))
	if res.code != 0 || !strings.Contains(res.stderr, "oops") {
		t.Errorf("stderr of the container: %v", res)
	}
}

func TestRunStdin(t *testing.T) {
	r := newRuntime(t)
	bundle := newBundle(t, withArgs("cat"))
	cmd := r.command("run", "--bundle", bundle, newID(t))
	cmd.Stdin = strings.NewReader("from stdin\n")
	if res := r.wait(cmd); res.code != 0 || res.stdout != "from stdin\n" {
		t.Errorf("cat in a container: %v", res)
	}
}

func TestLifecycle(t *testing.T) {
	r := newRuntime(t)
	shared := hostDir(t)
	bundle := newBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "touch /shared/ran; exec sleep 100"}
		addMount(s, bindMount(shared, "/shared"))
	})
	ran := filepath.Join(shared, "ran")
	id := newID(t)
	before := time.Now().Add(-time.Second)

	r.mustRun("create", "--bundle", bundle, id)
	st := r.state(id)
	if st.Status != "created" || st.ID != id || st.Pid <= 0 || st.OCIVersion == "" {
		t.Errorf("state after create: %+v", st)
	}
	if st.Bundle != bundle {
		t.Errorf("bundle %q, want %q", st.Bundle, bundle)
	}
	created, err := time.Parse(time.RFC3339Nano, st.Created)
	if err != nil || created.Before(before) || created.After(time.Now().Add(time.Second)) {
		t.Errorf("created %q: %v", st.Created, err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", st.Pid)); err != nil {
		t.Errorf("pid %d of the created container: %v", st.Pid, err)
	}
	// The user's program must not run before start.
	time.Sleep(200 * time.Millisecond)
	if _, err := os.Stat(ran); err == nil {
		t.Fatal("the program ran before start")
	}

	r.mustRun("start", id)
	waitFile(t, ran)
	if st := r.state(id); st.Status != "running" || st.Pid <= 0 {
		t.Errorf("state after start: %+v", st)
	}
	// A container starts once.
	r.mustFail("start", id)

	res := r.mustFail("delete", id)
	if res.stderr == "" {
		t.Errorf("delete of a running container gave no reason")
	}

	r.mustRun("kill", id, "KILL")
	r.waitStatus(id, "stopped")
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", st.Pid)); err == nil {
		// The pid may be reused, but not this quickly on an idle machine.
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", st.Pid))
		if strings.Contains(string(data), "sleep") {
			t.Errorf("container process %d still alive after stop", st.Pid)
		}
	}

	r.mustRun("delete", id)
	res = r.mustFail("state", id)
	if !strings.Contains(res.stderr, "does not exist") {
		t.Errorf("state of a deleted container: %v", res)
	}
	if ids := r.ids(); len(ids) != 0 {
		t.Errorf("list -q after delete: %v", ids)
	}
}

func TestStateUnknown(t *testing.T) {
	r := newRuntime(t)
	res := r.mustFail("state", "it-never-created")
	if !strings.Contains(res.stderr, "does not exist") {
		t.Errorf("%v", res)
	}
	res = r.mustFail("kill", "it-never-created", "KILL")
	if !strings.Contains(res.stderr, "does not exist") {
		t.Errorf("%v", res)
	}
	res = r.mustFail("delete", "it-never-created")
	if !strings.Contains(res.stderr, "does not exist") {
		t.Errorf("%v", res)
	}
}

func TestDeleteForce(t *testing.T) {
	r := newRuntime(t)
	bundle := newBundle(t, withArgs("sleep", "100"))
	id := newID(t)
	r.createStarted(id, bundle)
	pid := r.state(id).Pid
	r.mustFail("delete", id)
	r.mustRun("delete", "--force", id)
	if ids := r.ids(); len(ids) != 0 {
		t.Errorf("list -q after delete --force: %v", ids)
	}
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && strings.Contains(string(data), "sleep") {
		t.Errorf("process %d survived delete --force", pid)
	}

	// A created (never started) container can be force-deleted too.
	id2 := newID(t)
	r.mustRun("create", "--bundle", bundle, id2)
	r.mustRun("delete", "--force", id2)
	if ids := r.ids(); len(ids) != 0 {
		t.Errorf("list -q after delete --force of a created container: %v", ids)
	}
}

func TestKillStopped(t *testing.T) {
	r := newRuntime(t)
	bundle := newBundle(t, withArgs("sleep", "100"))
	id := newID(t)
	r.createStarted(id, bundle)
	r.mustRun("kill", id, "KILL")
	r.waitStatus(id, "stopped")
	res := r.mustFail("kill", id, "KILL")
	if !strings.Contains(res.stderr, "container not running") {
		t.Errorf("kill of a stopped container: %v", res)
	}
	// A stopped container deletes without --force.
	r.mustRun("delete", id)
}

func TestKillSignalForms(t *testing.T) {
	r := newRuntime(t)
	bundle := newBundle(t, withArgs("sleep", "100"))
	for _, sig := range []string{"KILL", "SIGKILL", "9"} {
		t.Run(sig, func(t *testing.T) {
			r := r.on(t)
			id := newID(t)
			r.createStarted(id, bundle)
			r.mustRun("kill", id, sig)
			r.waitStatus(id, "stopped")
			r.mustRun("delete", id)
		})
	}
	t.Run("TERM", func(t *testing.T) {
		r := r.on(t)
		// pid 1 ignores signals it has no handler for, so install one.
		trapBundle := newBundle(t, shell(`trap "exit 0" TERM; while :; do sleep 0.1; done`))
		id := newID(t)
		r.createStarted(id, trapBundle)
		r.mustRun("kill", id, "TERM")
		r.waitStatus(id, "stopped")
		r.mustRun("delete", id)
	})
	t.Run("default is TERM", func(t *testing.T) {
		r := r.on(t)
		trapBundle := newBundle(t, shell(`trap "exit 0" TERM; while :; do sleep 0.1; done`))
		id := newID(t)
		r.createStarted(id, trapBundle)
		r.mustRun("kill", id)
		r.waitStatus(id, "stopped")
		r.mustRun("delete", id)
	})
	t.Run("unknown signal", func(t *testing.T) {
		r := r.on(t)
		id := newID(t)
		r.createStarted(id, bundle)
		r.mustFail("kill", id, "NOTASIGNAL")
		r.mustFail("kill", id, "999")
		if st := r.state(id); st.Status != "running" {
			t.Errorf("container status after a bad kill: %s", st.Status)
		}
		r.mustRun("delete", "--force", id)
	})
}

func TestList(t *testing.T) {
	r := newRuntime(t)

	// Empty.
	res := r.mustRun("list")
	if got := strings.Fields(strings.SplitN(res.stdout, "\n", 2)[0]); strings.Join(got, " ") != "ID PID STATUS BUNDLE CREATED OWNER" {
		t.Errorf("list header: %q", res.stdout)
	}
	if len(nonEmptyLines(res.stdout)) != 1 {
		t.Errorf("list with no containers: %q", res.stdout)
	}
	res = r.mustRun("list", "--format", "json")
	if out := strings.TrimSpace(res.stdout); out != "null" && out != "[]" {
		t.Errorf("empty list --format json: %q", out)
	}
	if out := strings.TrimSpace(r.mustRun("list", "-q").stdout); out != "" {
		t.Errorf("empty list -q: %q", out)
	}

	bundle := newBundle(t, withArgs("sleep", "100"))
	running, created := newID(t), newID(t)
	r.createStarted(running, bundle)
	r.mustRun("create", "--bundle", bundle, created)

	res = r.mustRun("list")
	lines := nonEmptyLines(res.stdout)
	if len(lines) != 3 {
		t.Fatalf("list with two containers: %q", res.stdout)
	}
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		rows[f[0]] = f
	}
	for id, status := range map[string]string{running: "running", created: "created"} {
		f := rows[id]
		if len(f) < 6 || f[2] != status || f[3] != bundle || atoi(t, f[1]) <= 0 {
			t.Errorf("row of %s: %q", id, f)
		}
	}

	ids := r.ids()
	if len(ids) != 2 || !contains(ids, running) || !contains(ids, created) {
		t.Errorf("list -q: %v", ids)
	}

	res = r.mustRun("list", "--format", "json")
	var entries []containerState
	if err := json.Unmarshal([]byte(res.stdout), &entries); err != nil {
		t.Fatalf("list --format json: %v\n%s", err, res.stdout)
	}
	if len(entries) != 2 {
		t.Fatalf("list --format json: %s", res.stdout)
	}
	for _, e := range entries {
		want := map[string]string{running: "running", created: "created"}[e.ID]
		if e.Status != want || e.Pid <= 0 || e.Bundle != bundle || e.Created == "" {
			t.Errorf("json entry: %+v", e)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestConcurrentContainers: managers start many containers at once; the state
// store and cgroup setup must not trip over each other.
func TestConcurrentContainers(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	r := newRuntime(t)
	bundle := newBundle(t, withArgs("sleep", "100"))
	const total, parallel = 100, 16
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	for i := 0; i < total; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(id string) {
			defer wg.Done()
			defer func() { <-sem }()
			for _, args := range [][]string{
				{"create", "--bundle", bundle, id},
				{"start", id},
				{"kill", id, "KILL"},
			} {
				if res := r.wait(r.command(args...)); res.code != 0 {
					fail("%v", res)
					return
				}
			}
			// delete succeeds once the container is stopped.
			deadline := time.Now().Add(10 * time.Second)
			for {
				res := r.wait(r.command("delete", id))
				if res.code == 0 {
					return
				}
				if time.Now().After(deadline) {
					fail("%v", res)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}(fmt.Sprintf("%s-%03d", newID(t), i))
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if ids := r.ids(); len(ids) != 0 {
		t.Errorf("containers left: %v", ids)
	}
}
