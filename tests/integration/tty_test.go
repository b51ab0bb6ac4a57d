package integration

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// consoleSocket listens where --console-socket points and delivers the pty
// master the runtime sends: exactly one fd in one SCM_RIGHTS message.
func consoleSocket(t *testing.T) (string, <-chan *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got := make(chan *os.File, 1)
	go func() {
		defer close(got)
		conn, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer conn.Close()
		buf, oob := make([]byte, 4096), make([]byte, 4096)
		_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			t.Errorf("console socket: %v", err)
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			t.Errorf("console socket: want one control message, got %d (%v)", len(msgs), err)
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			t.Errorf("console socket: want one fd, got %v (%v)", fds, err)
			for _, fd := range fds {
				unix.Close(fd)
			}
			return
		}
		// Non-blocking so that reads can time out through the poller.
		unix.SetNonblock(fds[0], true)
		got <- os.NewFile(uintptr(fds[0]), "pty-master")
	}()
	return path, got
}

// readUntil reads the pty master until want appears, EOF/EIO, or the timeout.
func readUntil(master *os.File, want string, timeout time.Duration) string {
	var out bytes.Buffer
	buf := make([]byte, 4096)
	master.SetReadDeadline(time.Now().Add(timeout))
	for !strings.Contains(out.String(), want) {
		n, err := master.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return out.String()
}

func TestTerminal(t *testing.T) {
	r := newRuntime(t)
	sock, masters := consoleSocket(t)
	bundle := newBundle(t, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.ConsoleSize = &specs.Box{Height: 30, Width: 100}
		s.Process.Args = []string{"sh", "-c", "tty; stty size; echo ttyok; sleep 5"}
	})
	id := newID(t)
	r.mustRun("create", "--bundle", bundle, "--console-socket", sock, id)
	var master *os.File
	select {
	case master = <-masters:
	case <-time.After(5 * time.Second):
	}
	if master == nil {
		t.Fatal("no pty master received on the console socket")
	}
	defer master.Close()

	r.mustRun("start", id)
	out := readUntil(master, "ttyok", 10*time.Second)
	lines := nonEmptyLines(strings.ReplaceAll(out, "\r", ""))
	if len(lines) < 3 {
		t.Fatalf("terminal output: %q", out)
	}
	if lines[0] != "/dev/pts/0" && lines[0] != "/dev/console" {
		t.Errorf("tty inside: %q", lines[0])
	}
	if lines[1] != "30 100" {
		t.Errorf("stty size %q, want \"30 100\" (consoleSize)", lines[1])
	}
	if lines[2] != "ttyok" {
		t.Errorf("output through the pty: %q", out)
	}
	r.mustRun("delete", "--force", id)
}

func TestTerminalNeedsConsoleSocket(t *testing.T) {
	r := newRuntime(t)
	bundle := newBundle(t, func(s *specs.Spec) { s.Process.Terminal = true })
	res := r.mustFail("create", "--bundle", bundle, newID(t))
	if !regexp.MustCompile("console.socket").MatchString(res.stderr) {
		t.Errorf("create with terminal and no --console-socket: %v", res)
	}
	if ids := r.ids(); len(ids) != 0 {
		t.Errorf("list -q: %v", ids)
	}
}
