package console

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestPtyOverSocketPair(t *testing.T) {
	master, slavePath, err := NewPty()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	defer a.Close()
	defer b.Close()
	if err := SendFd(a, master.Name(), master); err != nil {
		t.Fatal(err)
	}
	got, err := RecvFd(b)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if got.Name() != "/dev/ptmx" {
		t.Errorf("payload name = %q", got.Name())
	}
	slave, err := os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	if err := SetSize(got, 120, 40); err != nil {
		t.Fatal(err)
	}
	ws, err := unix.IoctlGetWinsize(int(slave.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Col != 120 || ws.Row != 40 {
		t.Fatalf("slave winsize = %+v, %v", ws, err)
	}
	if _, err := got.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, _ := slave.Read(buf)
	if string(buf[:n]) != "hi\n" {
		t.Fatalf("slave read %q through the received master", buf[:n])
	}
}

func TestDialSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Write([]byte("x"))
			c.Close()
		}
	}()
	f, err := DialSocket(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1)
	if n, _ := f.Read(buf); n != 1 || buf[0] != 'x' {
		t.Fatal("no data through the dialed socket")
	}
	if _, err := DialSocket(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("dialing a missing socket succeeded")
	}
}

// TestMain doubles as the child for TestSetupSlaveStdio: changing the
// session and fds 0-2 of the test process itself would break the test run.
func TestMain(m *testing.M) {
	if slave := os.Getenv("CONSOLE_TEST_SLAVE"); slave != "" {
		if err := SetupSlaveStdio(slave); err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(1)
		}
		// /dev/tty opens only with a controlling terminal.
		tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err != nil {
			os.Stdout.WriteString("no ctty: " + err.Error() + "\n")
			os.Exit(1)
		}
		tty.Close()
		sid, _ := unix.Getsid(0)
		fmt.Printf("ok sid=%v stdin-is-tty=%v\n", sid == os.Getpid(), IsTerminal(os.Stdin))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestSetupSlaveStdio(t *testing.T) {
	master, slavePath, err := NewPty()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CONSOLE_TEST_SLAVE="+slavePath)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// What the child printed on its stdout, the slave.
	got := readUntil(t, master, "\n")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v: %s", err, stderr.String())
	}
	if !strings.Contains(got, "ok sid=true stdin-is-tty=true") {
		t.Fatalf("child printed %q", got)
	}
}

func TestSetupSlaveStdioRefusesNonPty(t *testing.T) {
	// The check runs before setsid/dup, so this is safe in-process.
	err := SetupSlaveStdio("/dev/null")
	if err == nil || !strings.Contains(err.Error(), "not a pty slave") {
		t.Fatalf("err = %v", err)
	}
}

func TestRecvFdFromClosedPeer(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	defer b.Close()
	a.Close()
	if f, err := RecvFd(b); err == nil {
		f.Close()
		t.Fatal("RecvFd succeeded on a closed socket")
	}
}

func TestProxy(t *testing.T) {
	master, slavePath, err := NewPty()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	slave, err := os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	done := Proxy(master, strings.NewReader("typed\n"), &out)
	if got := readUntil(t, slave, "\n"); got != "typed\n" {
		t.Fatalf("slave read %q", got)
	}
	if _, err := slave.Write([]byte("printed\n")); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Proxy did not finish after the slave closed")
	}
	// The line discipline echoes input and maps \n to \r\n on output.
	if !strings.Contains(out.String(), "printed\r\n") {
		t.Fatalf("out = %q", out.String())
	}
}

func TestMakeRawAndRestore(t *testing.T) {
	master, slavePath, err := NewPty()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	slave, err := os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	lflag := func() uint32 {
		tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		return tio.Lflag
	}
	if lflag()&(unix.ECHO|unix.ICANON) == 0 {
		t.Fatal("a new pty is already raw")
	}
	restore, err := MakeRaw(slave)
	if err != nil {
		t.Fatal(err)
	}
	if lflag()&(unix.ECHO|unix.ICANON) != 0 {
		t.Fatal("MakeRaw left ECHO/ICANON on")
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if lflag()&(unix.ECHO|unix.ICANON) != unix.ECHO|unix.ICANON {
		t.Fatal("restore did not bring ECHO/ICANON back")
	}
	devnull, _ := os.Open("/dev/null")
	defer devnull.Close()
	if _, err := MakeRaw(devnull); err == nil {
		t.Fatal("MakeRaw of /dev/null succeeded")
	}
}

func TestForwardResize(t *testing.T) {
	// "Our terminal" is the slave of one pty; the container's is another.
	ourMaster, ourSlavePath, err := NewPty()
	if err != nil {
		t.Fatal(err)
	}
	defer ourMaster.Close()
	ours, err := os.OpenFile(ourSlavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	theirs, _, err := NewPty()
	if err != nil {
		t.Fatal(err)
	}
	defer theirs.Close()
	size := func() (uint16, uint16) {
		ws, err := unix.IoctlGetWinsize(int(theirs.Fd()), unix.TIOCGWINSZ)
		if err != nil {
			t.Fatal(err)
		}
		return ws.Col, ws.Row
	}
	if err := SetSize(ourMaster, 80, 24); err != nil {
		t.Fatal(err)
	}
	stop := ForwardResize(ours, theirs)
	defer stop()
	if c, r := size(); c != 80 || r != 24 {
		t.Fatalf("initial size %dx%d", c, r)
	}
	if err := SetSize(ourMaster, 132, 50); err != nil {
		t.Fatal(err)
	}
	unix.Kill(os.Getpid(), unix.SIGWINCH)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c, r := size(); c == 132 && r == 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SIGWINCH did not resize the container's pty")
		}
	}
}

// readUntil reads f until the data ends with suffix, with a deadline.
func readUntil(t *testing.T, f *os.File, suffix string) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		var all []byte
		buf := make([]byte, 256)
		for !strings.HasSuffix(string(all), suffix) {
			n, err := f.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil {
				break
			}
		}
		got <- string(all)
	}()
	select {
	case s := <-got:
		return s
	case <-time.After(5 * time.Second):
		t.Fatalf("no %q read within 5s", suffix)
		return ""
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
