package console

import (
	"errors"
	"io"
	"os"
	"os/signal"

	cconsole "github.com/containerd/console"
	"golang.org/x/sys/unix"
)

// Proxy copies in to the pty master and the master to out, for a foreground
// `run -t` / `exec -t`. The returned channel is closed once the master
// reports the end of output (every slave fd closed: the container's
// processes are gone) and all of it was written to out, so the caller can
// wait for it, with a bound, before restoring its terminal. The in-to-master
// copy ends when in does.
func Proxy(master *os.File, in io.Reader, out io.Writer) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(master, in)
	}()
	go func() {
		defer close(done)
		// Ends with EIO from the master once no slave is open.
		_, _ = io.Copy(out, master)
	}()
	return done
}

// MakeRaw puts terminal f (usually os.Stdin) in raw mode so keystrokes such
// as ^C reach the container's pty instead of acting on us. restore puts the
// original settings back. It fails if f is not a terminal; then there is
// nothing to restore and the caller just proxies bytes.
func MakeRaw(f *os.File) (restore func() error, err error) {
	c, err := cconsole.ConsoleFromFile(f)
	if err != nil {
		return nil, err
	}
	if err := c.SetRaw(); err != nil {
		return nil, err
	}
	return c.Reset, nil
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// CopySize gives terminal to the window size of terminal from.
func CopySize(from, to *os.File) error {
	ws, err := unix.IoctlGetWinsize(int(from.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return err
	}
	if ws.Row == 0 && ws.Col == 0 {
		return errors.New("terminal has no size")
	}
	return unix.IoctlSetWinsize(int(to.Fd()), unix.TIOCSWINSZ, ws)
}

// ForwardResize copies from's size to master now and on every SIGWINCH
// until stop is called. Other signal.Notify users still get SIGWINCH too.
func ForwardResize(from, master *os.File) (stop func()) {
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, unix.SIGWINCH)
	quit := make(chan struct{})
	finished := make(chan struct{})
	_ = CopySize(from, master)
	go func() {
		defer close(finished)
		for {
			select {
			case <-winch:
				_ = CopySize(from, master)
			case <-quit:
				return
			}
		}
	}()
	return func() {
		signal.Stop(winch)
		close(quit)
		<-finished
	}
}
