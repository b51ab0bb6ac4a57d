// Package hooks runs OCI lifecycle hooks: the container state as JSON on
// stdin, the hook's path/args/env, and its timeout.
package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// maxOutput bounds how much of a hook's output is kept for the error.
const maxOutput = 4096

type boundedBuffer struct{ bytes.Buffer }

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := maxOutput - b.Len(); room > 0 {
		if len(p) > room {
			b.Buffer.Write(p[:room])
		} else {
			b.Buffer.Write(p)
		}
	}
	return len(p), nil
}

// Run runs the hooks in order and stops at the first failure. The error names
// the hook's path and says why it failed (exit status, timeout, output).
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
	ctx := context.Background()
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("%s: timeout must be positive", h.Path)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	cmd := exec.CommandContext(ctx, h.Path)
	cmd.Args = args
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = bytes.NewReader(state)
	var stdout, stderr boundedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A hook that leaves a child holding its stdout must not hang us.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: timeout after %d seconds", h.Path, *h.Timeout)
	}
	return fmt.Errorf("%s: %w, stdout: %s, stderr: %s", h.Path, err,
		strings.TrimSpace(stdout.String()), strings.TrimSpace(stderr.String()))
}
