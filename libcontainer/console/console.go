// Package console makes pseudo-terminals for containers and passes their
// master side to the caller over an AF_UNIX --console-socket (SCM_RIGHTS).
package console

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// NewPty opens a new pty pair from /dev/ptmx — after pivot_root that is the
// container's own devpts instance — and returns the master and the slave's
// path.
func NewPty() (*os.File, string, error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", err
	}
	master := os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, "", fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, "", fmt.Errorf("ptsname: %w", err)
	}
	return master, fmt.Sprintf("/dev/pts/%d", n), nil
}

// SetSize sets the terminal's window size.
func SetSize(f *os.File, width, height uint) error {
	ws := &unix.Winsize{Col: uint16(width), Row: uint16(height)}
	if err := unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, ws); err != nil {
		return fmt.Errorf("set console size: %w", err)
	}
	return nil
}

// SendFd sends fd in one message with one SCM_RIGHTS control message; the
// payload is its name, as runc sends it.
func SendFd(socket *os.File, name string, fd *os.File) error {
	if len(name) == 0 {
		name = "pty"
	}
	oob := unix.UnixRights(int(fd.Fd()))
	return unix.Sendmsg(int(socket.Fd()), []byte(name), oob, nil, 0)
}

// RecvFd receives one fd sent by SendFd.
func RecvFd(socket *os.File) (*os.File, error) {
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(socket.Fd()), name, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, errors.New("expected one control message with an fd")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		return nil, err
	}
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, errors.New("expected exactly one fd")
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}

// DialSocket connects to a --console-socket path.
func DialSocket(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// SetupSlaveStdio makes the slave our controlling terminal in a new session
// and our stdin, stdout and stderr.
func SetupSlaveStdio(slavePath string) error {
	fd, err := unix.Open(slavePath, unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("open pty slave: %w", err)
	}
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	if err := unix.IoctlSetInt(fd, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	for i := 0; i < 3; i++ {
		if err := unix.Dup3(fd, i, 0); err != nil {
			return err
		}
	}
	if fd > 2 {
		unix.Close(fd)
	}
	return nil
}
