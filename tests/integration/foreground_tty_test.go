package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// openPty returns a master and its slave, with the slave sized cols x rows.
func openPty(t *testing.T, cols, rows uint16) (*os.File, *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: rows}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })
	return master, slave
}

// runOnTerminal runs the runtime with a terminal as its stdio, as a user at
// a shell would, and returns what appeared on the terminal and the exit code.
func runOnTerminal(t *testing.T, r *runtime, args ...string) (string, int) {
	t.Helper()
	master, slave := openPty(t, 91, 27)
	cmd := exec.Command(runtimeBin, append([]string{"--root", r.root}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				close(done)
				return
			}
		}
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var err error
	select {
	case err = <-waited:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("runtime on a terminal did not finish")
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	return out.String(), exitCode(cmd, err)
}

func TestForegroundRunWithTerminal(t *testing.T) {
	r := newRuntime(t)
	bundle := newBundle(t, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.Args = []string{"sh", "-c", "tty; stty size; echo done; exit 7"}
	})
	out, code := runOnTerminal(t, r, "run", "--bundle", bundle, newID(t))
	if code != 7 {
		t.Errorf("exit code %d, want 7; output %q", code, out)
	}
	if !strings.Contains(out, "/dev/pts/0") && !strings.Contains(out, "/dev/console") {
		t.Errorf("the program has no terminal: %q", out)
	}
	if !strings.Contains(out, "27 91") {
		t.Errorf("the terminal size did not reach the container: %q", out)
	}
	if !strings.Contains(out, "done") {
		t.Errorf("output missing: %q", out)
	}
}

func TestForegroundExecWithTerminal(t *testing.T) {
	r := newRuntime(t)
	bundle := newBundle(t, withArgs("sleep", "100"))
	id := newID(t)
	r.createStarted(id, bundle)
	out, code := runOnTerminal(t, r, "exec", "-t", id, "sh", "-c", "tty; stty size; exit 3")
	if code != 3 {
		t.Errorf("exit code %d, want 3; output %q", code, out)
	}
	if !strings.Contains(out, "/dev/pts/") {
		t.Errorf("the exec'd program has no terminal: %q", out)
	}
	if !strings.Contains(out, "27 91") {
		t.Errorf("the terminal size did not reach the process: %q", out)
	}
}
