// Package hooks runs OCI lifecycle hooks: the container state as JSON on
// stdin, the hook's path/args/env, and its timeout.
//
// Error strings follow runc (1.2+), which managers show to users:
//
//	error running prestart hook #0: exit status 3, stdout: ..., stderr: ...
//	error running prestart hook #1: hook ran past specified timeout of 2.0s
package hooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// maxOutput bounds how much of a hook's stdout and stderr is kept for the
// error message; a chatty hook must not grow our memory.
const maxOutput = 4096

// pipeGrace is how long we keep reading a hook's output after it exited (or
// was killed). A hook may start a daemon that inherits stdout; without this
// bound we would wait for the daemon, as runc does.
const pipeGrace = 500 * time.Millisecond

// boundedBuffer keeps the first maxOutput bytes written to it. The buffer is
// a field, not embedded: an embedded bytes.Buffer would lend its ReadFrom to
// io.Copy, which would then bypass Write and the bound.
type boundedBuffer struct{ buf bytes.Buffer }

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := maxOutput - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// Run runs the hooks in order and stops at the first failure. name is the
// hook kind ("prestart", "createRuntime", ...) and appears in the error.
func Run(name string, hooks []specs.Hook, state *specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	data, err := json.Marshal(state)
	if err != nil {
		return err
	}
	for i, h := range hooks {
		if err := runOne(h, data); err != nil {
			return fmt.Errorf("error running %s hook #%d: %w", name, i, err)
		}
	}
	return nil
}

func runOne(h specs.Hook, state []byte) error {
	var timeout time.Duration
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("%s: timeout must be positive, got %d", h.Path, *h.Timeout)
		}
		timeout = time.Duration(*h.Timeout) * time.Second
	}
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	var stdout, stderr boundedBuffer
	cmd := &exec.Cmd{
		Path: h.Path,
		Args: args,
		// Exactly the hook's environment: a non-nil empty slice stops
		// os/exec from passing ours on.
		Env:    append([]string{}, h.Env...),
		Stdin:  bytes.NewReader(state),
		Stdout: &stdout,
		Stderr: &stderr,
		// After the hook exits (or is killed) stop waiting for a child of
		// it that still holds stdout/stderr open.
		WaitDelay: pipeGrace,
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	var expired <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case err := <-waited:
		if err == nil || errors.Is(err, exec.ErrWaitDelay) {
			// ErrWaitDelay: the hook succeeded but left a child holding its
			// output; that is the hook's business, not a failure.
			return nil
		}
		return fmt.Errorf("%w, stdout: %s, stderr: %s", err, trim(&stdout), trim(&stderr))
	case <-expired:
		_ = cmd.Process.Kill()
		<-waited // returns within pipeGrace once the hook is dead
		return fmt.Errorf("hook ran past specified timeout of %.1fs", timeout.Seconds())
	}
}

// trim drops the trailing newline so the error stays one line for the
// common one-line message.
func trim(b *boundedBuffer) string {
	return strings.TrimRight(b.buf.String(), "\n")
}
