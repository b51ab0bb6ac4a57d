package hooks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hook.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStateOnStdinArgsAndEnv(t *testing.T) {
	t.Setenv("LEAKED", "from-runtime")
	out := filepath.Join(t.TempDir(), "out")
	h := specs.Hook{
		Path: script(t, `cat > "$1"; echo "$2|$FOO|$LEAKED" > "$1.env"`),
		Args: []string{"my-argv0", out, "second"},
		Env:  []string{"FOO=bar"},
	}
	st := &specs.State{Version: specs.Version, ID: "c1", Status: specs.StateCreated, Pid: 42, Bundle: "/b"}
	if err := Run("prestart", []specs.Hook{h}, st); err != nil {
		t.Fatal(err)
	}
	var got specs.State
	data, _ := os.ReadFile(out)
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("hook stdin %q: %v", data, err)
	}
	if got.ID != "c1" || got.Pid != 42 || got.Status != specs.StateCreated || got.Bundle != "/b" || got.Version != specs.Version {
		t.Fatalf("state = %+v", got)
	}
	// Args reach the hook, and its env is exactly hook.Env (ours not inherited).
	env, _ := os.ReadFile(out + ".env")
	if got := strings.TrimSpace(string(env)); got != "second|bar|" {
		t.Fatalf("hook saw $2|$FOO|$LEAKED = %q", got)
	}
}

func TestArgv0AndDefaultArgs(t *testing.T) {
	// A script's $0 is its path whatever argv0 was, so look at the
	// cmdline of a shell run directly.
	out := filepath.Join(t.TempDir(), "cmdline")
	withArgs := specs.Hook{Path: "/bin/sh", Args: []string{"custom0", "-c", "tr '\\0' ' ' < /proc/$$/cmdline > " + out}}
	if err := Run("poststart", []specs.Hook{withArgs}, &specs.State{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !strings.HasPrefix(string(got), "custom0 -c ") {
		t.Fatalf("cmdline = %q, want argv0 custom0", got)
	}
	// No args: argv is just the path.
	marker := filepath.Join(t.TempDir(), "argc")
	p := script(t, `echo "$#" > `+marker)
	if err := Run("poststart", []specs.Hook{{Path: p}}, &specs.State{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(marker); strings.TrimSpace(string(got)) != "0" {
		t.Fatalf("hook without args got %q extra args", got)
	}
}

func TestFailureStopsAndNamesHook(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	hooks := []specs.Hook{
		{Path: script(t, "true")},
		{Path: script(t, "echo out; echo oops >&2; exit 3")},
		{Path: script(t, "touch "+marker)},
	}
	err := Run("createRuntime", hooks, &specs.State{})
	want := "error running createRuntime hook #1: exit status 3, stdout: out, stderr: oops"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant  %s", err, want)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("hook after a failing one ran")
	}
}

func TestMissingBinary(t *testing.T) {
	err := Run("poststop", []specs.Hook{{Path: "/nonexistent/hook"}}, &specs.State{})
	if err == nil || !strings.Contains(err.Error(), "poststop hook #0") || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("err = %v", err)
	}
}

func TestTimeout(t *testing.T) {
	one := 1
	start := time.Now()
	// The backgrounded sleep keeps stdout open after the shell is killed.
	err := Run("poststart", []specs.Hook{{Path: script(t, "sleep 30 & sleep 30"), Timeout: &one}}, &specs.State{})
	if err == nil || err.Error() != "error running poststart hook #0: hook ran past specified timeout of 1.0s" {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d < time.Second || d > 3*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

func TestChildHoldingStdoutDoesNotHang(t *testing.T) {
	ten := 10
	start := time.Now()
	h := specs.Hook{Path: script(t, "sleep 5 & echo started"), Timeout: &ten}
	if err := Run("createRuntime", []specs.Hook{h}, &specs.State{}); err != nil {
		t.Fatalf("a hook that exits 0 leaving a daemon failed: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("waited %v for the hook's child", d)
	}
}

func TestOutputIsBounded(t *testing.T) {
	err := Run("prestart", []specs.Hook{{Path: script(t, "head -c 100000 /dev/zero | tr '\\0' x; exit 1")}}, &specs.State{})
	if err == nil {
		t.Fatal("no error")
	}
	_, out, _ := strings.Cut(err.Error(), "stdout: ")
	out, _, _ = strings.Cut(out, ",")
	if n := strings.Count(out, "x"); n != maxOutput || len(out) != maxOutput {
		t.Fatalf("kept %d bytes of stdout, want %d", n, maxOutput)
	}
}
