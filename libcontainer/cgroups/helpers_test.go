package cgroups

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// requireRootV1 skips unless the test can create real v1 cgroups.
func requireRootV1(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if m := Mode(); m == "v2" {
		t.Skip("host is cgroup v2; the v1 driver cannot be exercised")
	}
}

// testPath is an absolute cgroup path unique to this test run.
func testPath(t *testing.T) string {
	return fmt.Sprintf("/rootlet-test/%s-%d", strings.ReplaceAll(t.Name(), "/", "_"), os.Getpid())
}

// child is a shell started outside any test cgroup that blocks on a line of
// stdin, so the test can move it into a cgroup before the script runs.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	done  chan struct{} // closed when the shell has exited
	err   error         // its exit status, valid once done is closed
}

func startChild(t *testing.T, script string) *child {
	t.Helper()
	cmd := exec.Command("sh", "-c", "read go_ahead; "+script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	c := &child{cmd: cmd, stdin: stdin, out: bufio.NewReader(pr), done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
		}
		pr.Close()
	})
	return c
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// release lets the script run.
func (c *child) release(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
}

func (c *child) readLine(t *testing.T) string {
	t.Helper()
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := c.out.ReadString('\n')
		ch <- res{s, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil && r.s == "" {
			t.Fatalf("reading child output: %v", r.err)
		}
		return strings.TrimSpace(r.s)
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for child output")
	}
	return ""
}

func (c *child) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-c.done:
		return c.err
	case <-time.After(30 * time.Second):
		t.Fatal("child did not exit")
	}
	return nil
}

// procState is the one-letter state from /proc/<pid>/stat.
func procState(t *testing.T, pid int) byte {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return s[i+2]
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func killedBy(err error) syscall.Signal {
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return ws.Signal()
		}
	}
	return 0
}

func ptr[T any](v T) *T { return &v }

// waitState polls the process state until it is one of want (1 s at most)
// and returns the last state seen.
func waitState(t *testing.T, pid int, want string) byte {
	t.Helper()
	var st byte
	for i := 0; i < 100; i++ {
		if st = procState(t, pid); strings.IndexByte(want, st) >= 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return st
}
