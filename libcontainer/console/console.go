// Package console makes pseudo-terminals for containers and passes their
// master side to the caller over an AF_UNIX --console-socket (SCM_RIGHTS).
//
// Container side (the init, after pivot_root): NewPty, SetSize, SendFd the
// master to the console socket, then SetupSlaveStdio. Caller side: DialSocket
// for --console-socket, or RecvFd on a private socket and Proxy the master to
// our own stdio (terminal.go) for a foreground `run -t` / `exec -t`.
package console

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// Device numbers checked so that a container cannot hand us something else
// under the well-known names (cf. CVE-2025-52565): /dev/ptmx is char 5:2 and
// pty slaves live on majors 136-143 of a devpts filesystem.
const (
	ptmxMajor       = 5
	ptmxMinor       = 2
	ptySlaveMajor   = 136
	ptySlaveMajorHi = 143
)

// maxNameLen bounds the SCM_RIGHTS payload, as runc does.
const maxNameLen = 4096

// NewPty opens a new pty pair from /dev/ptmx — after pivot_root that is the
// container's own devpts instance (/dev/ptmx -> pts/ptmx) — and returns the
// master and the slave's path, "/dev/pts/N".
func NewPty() (master *os.File, slavePath string, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", fmt.Errorf("open /dev/ptmx: %w", err)
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	defer func() {
		if err != nil {
			master.Close()
		}
	}()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, "", fmt.Errorf("stat /dev/ptmx: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != ptmxMajor || unix.Minor(st.Rdev) != ptmxMinor {
		return nil, "", errors.New("/dev/ptmx is not the pty multiplexer (char 5:2)")
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		return nil, "", fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		return nil, "", fmt.Errorf("ptsname: %w", err)
	}
	return master, "/dev/pts/" + strconv.FormatUint(uint64(n), 10), nil
}

// SetSize sets the terminal's window size (columns, rows). On the master it
// is what the slave's TIOCGWINSZ reports.
func SetSize(f *os.File, width, height uint) error {
	ws := &unix.Winsize{Col: uint16(width), Row: uint16(height)}
	if err := unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, ws); err != nil {
		return fmt.Errorf("set console size: %w", err)
	}
	return nil
}

// SendFd sends fd on a connected AF_UNIX socket in one message carrying one
// SCM_RIGHTS control message; the payload is name (runc sends the master's
// file name, "/dev/ptmx").
func SendFd(socket *os.File, name string, fd *os.File) error {
	if name == "" {
		name = fd.Name()
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("sendfd: name too long (%d > %d bytes)", len(name), maxNameLen)
	}
	oob := unix.UnixRights(int(fd.Fd()))
	for {
		err := unix.Sendmsg(int(socket.Fd()), []byte(name), oob, nil, 0)
		if err == unix.EINTR {
			continue
		}
		runtime.KeepAlive(fd)
		runtime.KeepAlive(socket)
		if err != nil {
			return fmt.Errorf("sendfd: %w", err)
		}
		return nil
	}
}

// RecvFd receives one fd sent by SendFd (or runc's utils.SendFd). The
// returned file is named by the message's payload and is close-on-exec.
func RecvFd(socket *os.File) (*os.File, error) {
	name := make([]byte, maxNameLen)
	oob := make([]byte, unix.CmsgSpace(4))
	var n, oobn, flags int
	var err error
	for {
		n, oobn, flags, _, err = unix.Recvmsg(int(socket.Fd()), name, oob, unix.MSG_CMSG_CLOEXEC)
		if err != unix.EINTR {
			break
		}
	}
	runtime.KeepAlive(socket)
	if err != nil {
		return nil, fmt.Errorf("recvfd: %w", err)
	}
	if n == 0 && oobn == 0 {
		return nil, errors.New("recvfd: peer closed the socket without sending an fd")
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("recvfd: %w", err)
	}
	var fds []int
	for i := range msgs {
		got, err := unix.ParseUnixRights(&msgs[i])
		if err == nil {
			fds = append(fds, got...)
		}
	}
	// Truncated control data means the kernel dropped fds the peer sent.
	if len(fds) != 1 || flags&unix.MSG_CTRUNC != 0 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("recvfd: expected exactly one fd, got %d", len(fds))
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}

// DialSocket connects to a --console-socket path (AF_UNIX, SOCK_STREAM). The
// result is a plain *os.File so that it can be handed to a child as an
// ExtraFile; it is close-on-exec in this process.
func DialSocket(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "connect", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// SetupSlaveStdio starts a new session with the slave as its controlling
// terminal and makes it our stdin, stdout and stderr. It checks that the path
// opens a pty slave, so a container cannot give us another file instead.
func SetupSlaveStdio(slavePath string) error {
	fd, err := unix.Open(slavePath, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open pty slave: %w", err)
	}
	defer unix.Close(fd)
	if err := checkSlave(fd, slavePath); err != nil {
		return err
	}
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	if err := unix.IoctlSetInt(fd, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	for i := 0; i < 3; i++ {
		// dup3 without O_CLOEXEC: 0, 1 and 2 must survive execve.
		if err := unix.Dup3(fd, i, 0); err != nil {
			return fmt.Errorf("dup pty slave to fd %d: %w", i, err)
		}
	}
	return nil
}

// checkSlave verifies fd is a pty slave on a devpts filesystem, so that a
// /dev/pts/N swapped for a symlink or another file is refused.
func checkSlave(fd int, slavePath string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat pty slave: %w", err)
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return fmt.Errorf("statfs pty slave: %w", err)
	}
	major := unix.Major(st.Rdev)
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || fs.Type != unix.DEVPTS_SUPER_MAGIC ||
		major < ptySlaveMajor || major > ptySlaveMajorHi {
		return fmt.Errorf("%s is not a pty slave on devpts", slavePath)
	}
	return nil
}
