package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// execContainer starts a long-running container with a private /tmp holding
// /tmp/marker, and waits until the marker is written.
func execContainer(t *testing.T, r *runtime) string {
	t.Helper()
	bundle := newBundle(t, func(s *specs.Spec) {
		s.Hostname = "it-exec"
		addMount(s, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=1777"}})
		s.Process.Args = []string{"sh", "-c", "echo from-init > /tmp/marker; exec sleep 1000"}
	})
	id := newID(t)
	r.createStarted(id, bundle)
	deadline := time.Now().Add(10 * time.Second)
	for r.run("exec", id, "test", "-s", "/tmp/marker").code != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the container never wrote /tmp/marker")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return id
}

func TestExec(t *testing.T) {
	r := newRuntime(t)
	id := execContainer(t, r)

	t.Run("exit code", func(t *testing.T) {
		r := r.on(t)
		if res := r.run("exec", id, "sh", "-c", "exit 5"); res.code != 5 {
			t.Errorf("want 5: %v", res)
		}
	})
	t.Run("same pid namespace", func(t *testing.T) {
		r := r.on(t)
		res := r.mustRun("exec", id, "ps", "-o", "pid,args")
		if !regexp.MustCompile(`(?m)^\s*1\s+sleep 1000\s*$`).MatchString(res.stdout) {
			t.Errorf("ps in the container does not show sleep as pid 1:\n%s", res.stdout)
		}
	})
	t.Run("same uts namespace", func(t *testing.T) {
		r := r.on(t)
		if out := strings.TrimSpace(r.mustRun("exec", id, "hostname").stdout); out != "it-exec" {
			t.Errorf("hostname %q", out)
		}
	})
	t.Run("same mount namespace", func(t *testing.T) {
		r := r.on(t)
		if out := r.mustRun("exec", id, "cat", "/tmp/marker").stdout; out != "from-init\n" {
			t.Errorf("/tmp/marker: %q", out)
		}
	})
	t.Run("env", func(t *testing.T) {
		r := r.on(t)
		out := r.mustRun("exec", "-e", "IT_A=1", "-e", "IT_B=two", id, "sh", "-c", "echo $IT_A $IT_B; echo $PATH").stdout
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || lines[0] != "1 two" || !strings.Contains(lines[1], "/bin") {
			t.Errorf("env: %q (the config's PATH must be kept)", out)
		}
	})
	t.Run("cwd", func(t *testing.T) {
		r := r.on(t)
		if out := strings.TrimSpace(r.mustRun("exec", "--cwd", "/tmp", id, "pwd").stdout); out != "/tmp" {
			t.Errorf("pwd %q", out)
		}
	})
	t.Run("user", func(t *testing.T) {
		r := r.on(t)
		out := strings.TrimSpace(r.mustRun("exec", "-u", "1000:1001", id, "sh", "-c", "id -u; id -g").stdout)
		if out != "1000\n1001" {
			t.Errorf("id: %q", out)
		}
	})
	t.Run("process file", func(t *testing.T) {
		r := r.on(t)
		proc := specs.Process{
			Args: []string{"sh", "-c", "echo $IT_P; pwd; id -u"},
			Env:  []string{"PATH=/bin", "IT_P=from-json"},
			Cwd:  "/tmp",
			User: specs.User{UID: 1234, GID: 1234},
		}
		data, _ := json.Marshal(proc)
		file := filepath.Join(t.TempDir(), "process.json")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out := strings.TrimSpace(r.mustRun("exec", "--process", file, id).stdout)
		if out != "from-json\n/tmp\n1234" {
			t.Errorf("exec --process: %q", out)
		}
	})
	t.Run("detach with pid file", func(t *testing.T) {
		r := r.on(t)
		pidFile := filepath.Join(t.TempDir(), "exec.pid")
		r.mustRun("exec", "-d", "--pid-file", pidFile, id, "sleep", "777")
		data, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^[1-9][0-9]*$`).Match(data) {
			t.Fatalf("pid file %q: want a decimal pid without newline", data)
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%s/cmdline", data))
		if err != nil || string(cmdline) != "sleep\x00777\x00" {
			t.Errorf("pid %s is %q (%v), want sleep 777", data, cmdline, err)
		}
		res := r.mustRun("exec", id, "ps", "-o", "args")
		if !strings.Contains(res.stdout, "sleep 777") {
			t.Errorf("detached process not in the container:\n%s", res.stdout)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		r := r.on(t)
		cmd := r.command("exec", id, "cat")
		cmd.Stdin = strings.NewReader("piped\n")
		if res := r.wait(cmd); res.code != 0 || res.stdout != "piped\n" {
			t.Errorf("%v", res)
		}
	})
	t.Run("missing binary", func(t *testing.T) {
		r := r.on(t)
		res := r.run("exec", id, "/no/such/binary")
		if res.code == 0 {
			t.Errorf("exec of a missing binary succeeded: %v", res)
		}
	})

	t.Run("stopped container", func(t *testing.T) {
		r := r.on(t)
		r.mustRun("kill", id, "KILL")
		r.waitStatus(id, "stopped")
		res := r.mustFail("exec", id, "true")
		if res.stderr == "" {
			t.Errorf("exec into a stopped container failed silently")
		}
	})
}

func TestExecUnknownContainer(t *testing.T) {
	r := newRuntime(t)
	res := r.mustFail("exec", "it-no-such-container", "true")
	if !strings.Contains(res.stderr, "does not exist") {
		t.Errorf("%v", res)
	}
}
