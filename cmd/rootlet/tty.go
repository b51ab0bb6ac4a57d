package main

import (
	"io"
	"os"
	"time"

	cconsole "github.com/containerd/console"
	"golang.org/x/sys/unix"
)

// proxyTerminal copies stdin to the pty master and the master to stdout,
// with our terminal (if stdin is one) in raw mode and its size copied to the
// pty. The returned func restores the terminal.
func proxyTerminal(master *os.File, in *os.File, out io.Writer) func() {
	restore := func() {}
	if cur, err := cconsole.ConsoleFromFile(in); err == nil {
		if err := cur.SetRaw(); err == nil {
			restore = func() { cur.Reset() }
		}
		resizeFrom(in, master)
	}
	go io.Copy(master, in)
	go io.Copy(out, master)
	return restore
}

// resizeFrom copies the window size of terminal src to the pty master.
func resizeFrom(src, master *os.File) {
	ws, err := unix.IoctlGetWinsize(int(src.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return
	}
	unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws)
}

// drain waits briefly for output still buffered in the pty after the
// process exited (the copy goroutine ends with EIO once it is empty).
func drain(master *os.File) {
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCINQ)
		if err != nil || n == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
