package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestVersion(t *testing.T) {
	r := newRuntime(t)
	res := r.mustRun("--version")
	first := strings.SplitN(res.stdout, "\n", 2)[0]
	if !regexp.MustCompile(`^(rootlet|runc) version [0-9]`).MatchString(first) {
		t.Fatalf("first line of --version: %q", first)
	}
	if !strings.Contains(res.stdout, "spec: ") {
		t.Errorf("--version does not name the OCI spec version:\n%s", res.stdout)
	}
}

func TestSpecWritesConfig(t *testing.T) {
	r := newRuntime(t)
	dir := t.TempDir()
	cmd := r.command("spec")
	cmd.Dir = dir
	if res := r.wait(cmd); res.code != 0 {
		t.Fatalf("%v", res)
	}
	spec := readSpec(t, dir)
	if spec.Process == nil || len(spec.Process.Args) == 0 || spec.Process.Args[0] != "sh" {
		t.Errorf("default process: %+v", spec.Process)
	}
	if spec.Root == nil || spec.Root.Path != "rootfs" {
		t.Errorf("default root: %+v", spec.Root)
	}
	if spec.Linux == nil || len(spec.Linux.Namespaces) == 0 {
		t.Errorf("default spec has no namespaces")
	}

	// --bundle writes into that directory instead of the working directory.
	other := t.TempDir()
	r.mustRun("spec", "--bundle", other)
	if _, err := os.Stat(filepath.Join(other, "config.json")); err != nil {
		t.Errorf("spec --bundle: %v", err)
	}
}

func TestSpecRefusesToOverwrite(t *testing.T) {
	r := newRuntime(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "config.json")
	if err := os.WriteFile(config, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := r.command("spec")
	cmd.Dir = dir
	res := r.wait(cmd)
	if res.code == 0 {
		t.Fatalf("spec overwrote an existing config.json: %v", res)
	}
	if data, _ := os.ReadFile(config); string(data) != "mine" {
		t.Errorf("config.json changed to %q", data)
	}
}

// TestBadInput: every invalid create fails with one error line and leaves
// nothing behind: no state, no process, no mount.
func TestBadInput(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(t *testing.T, bundle string) // breaks the bundle
		id      string                            // default: a fresh valid id
		bundle  string                            // default: the prepared bundle
		keyword string                            // regexp expected in stderr (case-insensitive)
	}{
		{
			name:    "missing bundle dir",
			bundle:  "/nonexistent/rootlet-bundle",
			keyword: "no such file or directory",
		},
		{
			name: "config.json missing",
			setup: func(t *testing.T, b string) {
				os.Remove(filepath.Join(b, "config.json"))
			},
			keyword: "config.json",
		},
		{
			name: "malformed JSON",
			setup: func(t *testing.T, b string) {
				os.WriteFile(filepath.Join(b, "config.json"), []byte(`{"ociVersion": "1.0.2", "process": }`), 0o644)
			},
			keyword: "json|invalid character",
		},
		{
			name:    "empty args",
			setup:   func(t *testing.T, b string) { editSpec(t, b, withArgs()) },
			keyword: "args",
		},
		{
			name:    "invalid id",
			id:      "a/b",
			keyword: "id",
		},
		{
			name: "unknown namespace type",
			setup: func(t *testing.T, b string) {
				editSpec(t, b, func(s *specs.Spec) {
					s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
				})
			},
			keyword: "namespace",
		},
		{
			name: "missing rootfs",
			setup: func(t *testing.T, b string) {
				os.RemoveAll(filepath.Join(b, "rootfs"))
			},
			keyword: "rootfs",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRuntime(t)
			// A unique argument lets us look for a leftover container process.
			marker := newID(t)
			bundle := newBundle(t, withArgs("sleep", "1000", marker))
			if tc.setup != nil {
				tc.setup(t, bundle)
			}
			if tc.bundle != "" {
				bundle = tc.bundle
			}
			id := tc.id
			if id == "" {
				id = marker
			}
			res := r.mustFail("create", "--bundle", bundle, id)
			lines := nonEmptyLines(res.stderr)
			if len(lines) != 1 {
				t.Errorf("want exactly one error line on stderr, got %d: %v", len(lines), res)
			}
			if !regexp.MustCompile("(?i)" + tc.keyword).MatchString(res.stderr) {
				t.Errorf("stderr does not mention %q: %v", tc.keyword, res)
			}
			assertNothingLeft(t, r, bundle, marker)
		})
	}
}

func TestDuplicateID(t *testing.T) {
	r := newRuntime(t)
	bundle := newBundle(t, withArgs("sleep", "100"))
	id := newID(t)
	r.mustRun("create", "--bundle", bundle, id)
	first := r.state(id)

	res := r.mustFail("create", "--bundle", bundle, id)
	if !strings.Contains(res.stderr, "exist") {
		t.Errorf("stderr does not say the container exists: %v", res)
	}
	// The first container is untouched.
	if got := r.ids(); len(got) != 1 || got[0] != id {
		t.Errorf("list -q after duplicate create: %v", got)
	}
	if again := r.state(id); again.Pid != first.Pid || again.Status != "created" {
		t.Errorf("first container changed: %+v -> %+v", first, again)
	}
}

// assertNothingLeft checks a failed create left no trace.
func assertNothingLeft(t *testing.T, r *runtime, bundle, marker string) {
	t.Helper()
	if ids := r.ids(); len(ids) != 0 {
		t.Errorf("list -q after a failed create: %v", ids)
	}
	entries, _ := os.ReadDir(r.root)
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("state dir left in --root: %s", e.Name())
		}
	}
	if processExists(t, marker) {
		t.Errorf("a container process (%s) is still running", marker)
	}
	if m := mountsMentioning(t, bundle); len(m) != 0 {
		t.Errorf("mounts of the bundle left on the host: %v", m)
	}
}

// TestLogJSON: containerd reads the last line of --log to report why a
// command failed.
func TestLogJSON(t *testing.T) {
	r := newRuntime(t)
	logFile := filepath.Join(t.TempDir(), "runtime.log")
	r.mustFail("--log", logFile, "--log-format", "json", "state", "it-no-such-container")
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := nonEmptyLines(string(data))
	if len(lines) == 0 {
		t.Fatal("log file is empty")
	}
	last := lines[len(lines)-1]
	var entry struct {
		Level string `json:"level"`
		Msg   string `json:"msg"`
		Time  string `json:"time"`
	}
	if err := json.Unmarshal([]byte(last), &entry); err != nil {
		t.Fatalf("last log line is not JSON: %q: %v", last, err)
	}
	if entry.Level != "error" || !strings.Contains(entry.Msg, "does not exist") {
		t.Errorf("last log line: %q", last)
	}
}
