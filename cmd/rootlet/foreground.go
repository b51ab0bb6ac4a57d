package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rootlet/rootlet/libcontainer/console"
)

// foreground is the part of `run` and `exec` that stays attached: it reaps
// the container process (we are its subreaper, since nsenter forks it away
// from us), forwards signals and, for a terminal, proxies our stdio to the
// pty master it receives on a private console socket.
type foreground struct {
	signals  chan os.Signal
	notified chan struct{} // closed once signal.Notify has returned
	ttySock  *os.File      // our end of the private console socket
	peerSock *os.File      // the end passed to the container
	master   *os.File
	output   <-chan struct{} // closed when the pty has no more output
	restore  func()
}

// newForeground must be called before the container process is spawned so
// that orphans are reparented to us and no signal is lost.
func newForeground(terminal bool) (*foreground, error) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("become subreaper: %w", err)
	}
	f := &foreground{signals: make(chan os.Signal, 128)}
	// Catching every signal costs ~1 ms (runtime setup for 64 handlers):
	// overlap it with the container's creation.
	f.notified = make(chan struct{})
	go func() {
		signal.Notify(f.signals)
		close(f.notified)
	}()
	if terminal {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		f.ttySock = os.NewFile(uintptr(fds[0]), "console-ours")
		f.peerSock = os.NewFile(uintptr(fds[1]), "console-peer")
	}
	return f, nil
}

// attachTerminal receives the pty master (after the container was spawned)
// and starts copying between it and our stdio.
func (f *foreground) attachTerminal() error {
	if f.ttySock == nil {
		return nil
	}
	f.peerSock.Close()
	master, err := console.RecvFd(f.ttySock)
	if err != nil {
		return fmt.Errorf("receive pty master: %w", err)
	}
	f.master = master
	if console.IsTerminal(os.Stdin) {
		if restore, err := console.MakeRaw(os.Stdin); err == nil {
			f.restore = func() { restore() }
		}
		console.CopySize(os.Stdin, master)
	}
	f.output = console.Proxy(master, os.Stdin, os.Stdout)
	return nil
}

// wait forwards signals to pid and returns its exit status the shell way
// (128+signal when killed).
func (f *foreground) wait(pid int) int {
	defer f.close()
	done := make(chan int, 1)
	go func() {
		for {
			var ws unix.WaitStatus
			wpid, err := unix.Wait4(-1, &ws, 0, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				done <- 255
				return
			}
			if wpid != pid {
				continue // an orphan reparented to us
			}
			if ws.Signaled() {
				done <- 128 + int(ws.Signal())
			} else {
				done <- ws.ExitStatus()
			}
			return
		}
	}()
	for {
		select {
		case code := <-done:
			if f.output != nil {
				// Let the last output drain before we restore the terminal;
				// a background process may hold the pty open, so not forever.
				select {
				case <-f.output:
				case <-time.After(200 * time.Millisecond):
				}
			}
			return code
		case s := <-f.signals:
			sig := s.(unix.Signal)
			switch sig {
			case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE:
				// Ours: child bookkeeping, Go runtime preemption, closed pipes.
			case unix.SIGWINCH:
				if f.master != nil {
					console.CopySize(os.Stdin, f.master)
				}
			default:
				unix.Kill(pid, sig)
			}
		}
	}
}

func (f *foreground) close() {
	<-f.notified
	signal.Stop(f.signals)
	if f.restore != nil {
		f.restore()
	}
	if f.ttySock != nil {
		f.ttySock.Close()
	}
}
