package integration

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ptySession is the runtime running in the foreground on a terminal that the
// test types into, as a user at an interactive shell would.
type ptySession struct {
	t      *testing.T
	master *os.File
	slave  *os.File     // kept open by the test to read its termios after the runtime exits
	before unix.Termios // the terminal's mode before the runtime started
	cmd    *exec.Cmd
	waited chan error
	mu     sync.Mutex
	out    bytes.Buffer
}

func startOnTerminal(t *testing.T, r *runtime, args ...string) *ptySession {
	t.Helper()
	master, slave := openPty(t, 120, 40)
	s := &ptySession{t: t, master: master, slave: slave, waited: make(chan error, 1)}
	s.before = *termiosOf(t, slave)
	s.cmd = exec.Command(runtimeBin, append([]string{"--root", r.root}, args...)...)
	s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = slave, slave, slave
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.waited <- s.cmd.Wait() }()
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
		}
	})
	return s
}

func (s *ptySession) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// expect waits until want appeared on the terminal.
func (s *ptySession) expect(want string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(s.output(), want) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func (s *ptySession) typeIn(text string) {
	s.t.Helper()
	if _, err := s.master.Write([]byte(text)); err != nil {
		s.t.Fatal(err)
	}
}

// exit waits for the runtime and returns its exit code.
func (s *ptySession) exit(timeout time.Duration) int {
	s.t.Helper()
	select {
	case err := <-s.waited:
		return exitCode(s.cmd, err)
	case <-time.After(timeout):
		s.cmd.Process.Kill()
		s.t.Fatalf("the runtime did not exit; terminal: %q", s.output())
		return -1
	}
}

func termiosOf(t *testing.T, f *os.File) *unix.Termios {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return tio
}

// Typing into an interactive container shell reaches it, and the user's
// terminal is back in its original mode when the runtime exits (runc puts it
// in raw mode while the container runs and restores it).
func TestInteractiveRunOnTerminal(t *testing.T) {
	r := newRuntime(t)
	bundle := newBundle(t, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.Args = []string{"sh"}
	})
	s := startOnTerminal(t, r, "run", "--bundle", bundle, newID(t))
	before := s.before
	// The shell computes 42; the terminal's echo of the typed line does not
	// contain it.
	s.typeIn("echo $((6*7)); exit 4\r")
	if code := s.exit(20 * time.Second); code != 4 {
		t.Errorf("exit code %d, want the shell's 4; terminal: %q", code, s.output())
	}
	if !s.expect("42", 2*time.Second) {
		t.Errorf("typed command did not run: %q", s.output())
	}
	after := termiosOf(t, s.slave)
	if before.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) != unix.ICANON|unix.ECHO|unix.ISIG {
		t.Fatalf("the test terminal was not in cooked mode to begin with: lflag %#x", before.Lflag)
	}
	if after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
		t.Errorf("terminal mode not restored: lflag %#x->%#x iflag %#x->%#x oflag %#x->%#x",
			before.Lflag, after.Lflag, before.Iflag, after.Iflag, before.Oflag, after.Oflag)
	}
}

// ^C typed on the user's terminal is delivered as SIGINT inside the
// container (the outer terminal is raw, the container's pty turns it into
// the signal), not to the runtime.
func TestCtrlCReachesContainerOnTerminal(t *testing.T) {
	r := newRuntime(t)
	bundle := newBundle(t, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.Args = []string{"sh", "-c", `trap "echo got-int; exit 9" INT; echo ready; while :; do sleep 0.1; done`}
	})
	s := startOnTerminal(t, r, "run", "--bundle", bundle, newID(t))
	if !s.expect("ready", 10*time.Second) {
		t.Fatalf("container did not start: %q", s.output())
	}
	// Raw while the container runs: the container's own pty does the line
	// discipline, so keys like ^C must pass through as bytes.
	if lflag := termiosOf(t, s.slave).Lflag; lflag&(unix.ICANON|unix.ECHO|unix.ISIG) != 0 {
		t.Errorf("the user's terminal is not raw while the container runs: lflag %#x", lflag)
	}
	s.typeIn("\x03")
	if code := s.exit(20 * time.Second); code != 9 {
		t.Errorf("exit code %d, want 9 from the container's INT trap; terminal: %q", code, s.output())
	}
	if !strings.Contains(s.output(), "got-int") {
		t.Errorf("the container's trap did not run: %q", s.output())
	}
}

// `exec -t` into a running container with an interactive shell.
func TestInteractiveExecOnTerminal(t *testing.T) {
	r := newRuntime(t)
	id := newID(t)
	r.createStarted(id, newBundle(t, withArgs("sleep", "1000")))
	s := startOnTerminal(t, r, "exec", "-t", id, "sh")
	s.typeIn("echo $((6*7)); tty; exit 5\r")
	if code := s.exit(20 * time.Second); code != 5 {
		t.Errorf("exit code %d, want 5; terminal: %q", code, s.output())
	}
	if !s.expect("42", 2*time.Second) || !strings.Contains(s.output(), "/dev/pts/") {
		t.Errorf("exec'd shell output: %q", s.output())
	}
}
