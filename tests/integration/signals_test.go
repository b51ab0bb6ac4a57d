package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// trapScript exits with code when sig arrives, after saying "ready".
func trapScript(sig string, code int) string {
	return `trap "echo got-` + sig + `; exit ` + strconv.Itoa(code) + `" ` + sig + `; echo ready; while :; do sleep 0.1; done`
}

// startForeground starts the runtime with output to a file and waits until
// the container printed "ready"; it returns the pending result.
func startForeground(t *testing.T, r *runtime, args ...string) (*os.Process, <-chan result) {
	t.Helper()
	cmd := r.command(args...)
	out, errOut := captureFile(t), captureFile(t)
	cmd.Stdout, cmd.Stderr = out, errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	done := make(chan result, 1)
	go func() {
		err := cmd.Wait()
		done <- result{args: cmd.Args, code: exitCode(cmd, err), stdout: readAll(out), stderr: readAll(errOut)}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(readAll(out), "ready") {
		if time.Now().After(deadline) {
			t.Fatalf("the container never got ready: %q", readAll(out))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cmd.Process, done
}

func waitResult(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case res := <-done:
		return res
	case <-time.After(20 * time.Second):
		t.Fatal("the runtime did not exit")
		return result{}
	}
}

// Signals sent to a foreground `run` or `exec` are forwarded to the
// container's process (what `docker stop` of a shim-less setup, or a user's
// kill, relies on), and the runtime exits with the process's status.
func TestForegroundSignalForwarding(t *testing.T) {
	r := newRuntime(t)
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{{"TERM", syscall.SIGTERM}, {"USR1", syscall.SIGUSR1}, {"HUP", syscall.SIGHUP}} {
		t.Run("run "+tc.name, func(t *testing.T) {
			r := r.on(t)
			bundle := newBundle(t, shell(trapScript(tc.name, 3)))
			proc, done := startForeground(t, r, "run", "--bundle", bundle, newID(t))
			proc.Signal(tc.sig)
			res := waitResult(t, done)
			if res.code != 3 || !strings.Contains(res.stdout, "got-"+tc.name) {
				t.Errorf("SIG%s to the runtime did not reach the container: %v", tc.name, res)
			}
		})
	}
	t.Run("exec USR1", func(t *testing.T) {
		r := r.on(t)
		id := sleepingContainer(t, r)
		proc, done := startForeground(t, r, "exec", id, "sh", "-c", trapScript("USR1", 4))
		proc.Signal(syscall.SIGUSR1)
		res := waitResult(t, done)
		if res.code != 4 || !strings.Contains(res.stdout, "got-USR1") {
			t.Errorf("SIGUSR1 to exec did not reach the process: %v", res)
		}
		if st := r.state(id).Status; st != "running" {
			t.Errorf("the signal reached the container's init too: status %s", st)
		}
	})
}

// Resizing the user's terminal resizes the container's (SIGWINCH to the
// runtime, which sets the size on the container's pty).
func TestTerminalResize(t *testing.T) {
	r := newRuntime(t)
	bundle := newBundle(t, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.Args = []string{"sh", "-c", `echo ready; while :; do [ "$(stty size)" = "50 150" ] && { echo resized; exit 6; }; sleep 0.1; done`}
	})
	s := startOnTerminal(t, r, "run", "--bundle", bundle, newID(t))
	if !s.expect("ready", 10*time.Second) {
		t.Fatalf("container did not start: %q", s.output())
	}
	// The kernel sends SIGWINCH to the terminal's foreground group: the runtime.
	if err := unix.IoctlSetWinsize(int(s.slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: 150}); err != nil {
		t.Fatal(err)
	}
	if code := s.exit(20 * time.Second); code != 6 {
		t.Errorf("the container never saw 50x150: exit %d, terminal %q", code, s.output())
	}
}

// create --pid-file names the container's init, as `state` does, in the
// format managers parse (decimal, no newline).
func TestCreatePidFile(t *testing.T) {
	r := newRuntime(t)
	pidFile := filepath.Join(t.TempDir(), "init.pid")
	id := newID(t)
	r.mustRun("create", "--pid-file", pidFile, "--bundle", newBundle(t, withArgs("sleep", "1000")), id)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[1-9][0-9]*$`).Match(data) {
		t.Fatalf("pid file %q", data)
	}
	if pid := atoi(t, string(data)); pid != r.state(id).Pid {
		t.Errorf("pid file %d, state %d", pid, r.state(id).Pid)
	}
	// Relative paths are relative to the caller's directory.
	dir := t.TempDir()
	cmd := r.command("create", "--pid-file", "rel.pid", "--bundle", newBundle(t, withArgs("sleep", "1000")), newID(t))
	cmd.Dir = dir
	if res := r.wait(cmd); res.code != 0 {
		t.Fatalf("%v", res)
	}
	if _, err := os.Stat(filepath.Join(dir, "rel.pid")); err != nil {
		t.Errorf("relative --pid-file: %v", err)
	}
}
