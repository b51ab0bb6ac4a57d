package console

import (
	"net"
	"os"
	"path/filepath"
	"testing"

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
