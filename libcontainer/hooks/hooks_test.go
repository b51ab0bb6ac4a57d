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
	out := filepath.Join(t.TempDir(), "out")
	h := specs.Hook{
		Path: script(t, `cat > "$1"; echo "$2 $FOO" >> "$1.env"`),
		Args: []string{"hook", out, "second"},
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
	if got.ID != "c1" || got.Pid != 42 || got.Status != specs.StateCreated || got.Bundle != "/b" {
		t.Fatalf("state = %+v", got)
	}
	env, _ := os.ReadFile(out + ".env")
	if strings.TrimSpace(string(env)) != "second bar" {
		t.Fatalf("args/env seen by hook: %q", env)
	}
}

func TestFailureStopsAndNamesHook(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	hooks := []specs.Hook{
		{Path: script(t, "echo oops >&2; exit 3")},
		{Path: script(t, "touch "+marker)},
	}
	err := Run("createRuntime", hooks, &specs.State{})
	if err == nil || !strings.Contains(err.Error(), "createRuntime hook #0") || !strings.Contains(err.Error(), "oops") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("hook after a failing one ran")
	}
}

func TestTimeout(t *testing.T) {
	one := 1
	start := time.Now()
	err := Run("poststart", []specs.Hook{{Path: script(t, "sleep 30 & sleep 30"), Timeout: &one}}, &specs.State{})
	if err == nil || !strings.Contains(err.Error(), "timeout after 1 seconds") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}
