// Package integration drives the built runtime binary through its command line,
// the way containerd, Docker or Podman would. The binary comes from $ROOTLET_BIN
// (default <repo>/bin/rootlet); the suite also passes against runc
// (ROOTLET_BIN=/usr/bin/runc), which is how it checks it tests the contract and
// not our implementation.
package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var (
	// runtimeBin is the binary under test (absolute path).
	runtimeBin string
	// baseBundle holds the busybox rootfs and default config.json made once by
	// hack/mkbundle.sh; every test copies it.
	baseBundle string
	repoRoot   string
)

// commandTimeout bounds every runtime invocation so a hung runtime fails the
// test instead of the whole suite.
const commandTimeout = 60 * time.Second

func TestMain(m *testing.M) {
	os.Exit(setupAndRun(m))
}

func setupAndRun(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "integration tests need root; skipping")
		return 0
	}
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = filepath.Clean(filepath.Join(wd, "..", ".."))
	if runtimeBin, err = findBinary(); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "integration: testing %s\n", runtimeBin)

	tmp, err := os.MkdirTemp("", "rootlet-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	baseBundle = filepath.Join(tmp, "bundle")
	// The config comes from hack/mkbundle.sh's own copy of runc's default spec,
	// not from the binary under test: a broken `spec` command must fail only
	// the spec tests.
	mk := exec.Command(filepath.Join(repoRoot, "hack", "mkbundle.sh"), baseBundle)
	mk.Env = append(os.Environ(), "ROOTLET=")
	if out, err := mk.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "hack/mkbundle.sh: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// findBinary returns $ROOTLET_BIN, or <repo>/bin/rootlet, building it when
// missing (`make test` builds it first, so this is for a bare `go test`).
func findBinary() (string, error) {
	if bin := os.Getenv("ROOTLET_BIN"); bin != "" {
		if p, err := exec.LookPath(bin); err == nil {
			return filepath.Abs(p)
		}
		return "", fmt.Errorf("ROOTLET_BIN=%s: not an executable", bin)
	}
	bin := filepath.Join(repoRoot, "bin", "rootlet")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	build := exec.Command("go", "build", "-o", bin, "./cmd/rootlet")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %v\n%s", bin, err, out)
	}
	return bin, nil
}

// isRunc reports whether the binary under test is runc; only tests that
// document a deliberate difference from runc use it.
func isRunc() bool {
	return filepath.Base(runtimeBin) == "runc"
}

// result is one finished runtime invocation.
type result struct {
	args   []string
	stdout string
	stderr string
	code   int // exit code; 128+signal when killed; -1 when it did not run
}

func (r result) String() string {
	return fmt.Sprintf("`%s` exited %d\nstdout: %q\nstderr: %q",
		strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// runtime is the binary under test with a state root private to one test.
type runtime struct {
	t    *testing.T
	root string
}

// newRuntime gives the test its own --root and force-deletes whatever
// containers are left in it when the test ends.
func newRuntime(t *testing.T) *runtime {
	t.Helper()
	r := &runtime{t: t, root: t.TempDir()}
	t.Cleanup(r.deleteAll)
	return r
}

// on returns the same runtime reporting to a subtest's t, so that a failed
// command stops the subtest and not its parent.
func (r *runtime) on(t *testing.T) *runtime {
	return &runtime{t: t, root: r.root}
}

func (r *runtime) deleteAll() {
	res := r.run("list", "-q")
	for _, id := range strings.Fields(res.stdout) {
		if del := r.run("delete", "--force", id); del.code != 0 {
			r.t.Logf("cleanup: %v", del)
		}
	}
}

// command prepares `BIN --root ROOT args...`; the caller may set Stdin,
// ExtraFiles, Dir... before running it with r.wait.
func (r *runtime) command(args ...string) *exec.Cmd {
	full := append([]string{"--root", r.root}, args...)
	cmd := exec.Command(runtimeBin, full...)
	// A container left holding our stdout must not hang the test forever.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// wait runs cmd to completion (bounded by commandTimeout) and captures its output.
func (r *runtime) wait(cmd *exec.Cmd) result {
	r.t.Helper()
	// Output goes to unlinked temp files, not pipes: a created container
	// inherits the runtime's stdio and keeps it open, and Wait would block on
	// a pipe until the container exits.
	stdout, stderr := captureFile(r.t), captureFile(r.t)
	defer stdout.Close()
	defer stderr.Close()
	if cmd.Stdout == nil {
		cmd.Stdout = stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = stderr
	}
	res := result{args: cmd.Args}
	if err := cmd.Start(); err != nil {
		res.code = -1
		res.stderr = err.Error()
		return res
	}
	timer := time.AfterFunc(commandTimeout, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	res.stdout, res.stderr = readAll(stdout), readAll(stderr)
	res.code = exitCode(cmd, err)
	return res
}

func captureFile(t *testing.T) *os.File {
	f, err := os.CreateTemp("", "rootlet-it-out-")
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(f.Name())
	return f
}

func readAll(f *os.File) string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	return string(data)
}

func exitCode(cmd *exec.Cmd, err error) int {
	if cmd.ProcessState == nil {
		return -1
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if code := cmd.ProcessState.ExitCode(); code >= 0 {
		return code
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// run invokes the runtime with stdin from /dev/null.
func (r *runtime) run(args ...string) result {
	r.t.Helper()
	return r.wait(r.command(args...))
}

// mustRun runs the command and fails the test unless it exits 0.
func (r *runtime) mustRun(args ...string) result {
	r.t.Helper()
	res := r.run(args...)
	if res.code != 0 {
		r.t.Fatalf("%v", res)
	}
	return res
}

// mustFail runs the command and fails the test if it exits 0.
func (r *runtime) mustFail(args ...string) result {
	r.t.Helper()
	res := r.run(args...)
	if res.code == 0 {
		r.t.Fatalf("expected failure: %v", res)
	}
	return res
}

// containerState is the `state` JSON a container manager reads.
type containerState struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     string            `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations"`
}

func (r *runtime) state(id string) containerState {
	r.t.Helper()
	res := r.mustRun("state", id)
	var st containerState
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		r.t.Fatalf("state %s: %v\n%s", id, err, res.stdout)
	}
	return st
}

// waitStatus polls `state` until the container reaches status.
func (r *runtime) waitStatus(id, status string) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		res := r.run("state", id)
		var st containerState
		if res.code == 0 && json.Unmarshal([]byte(res.stdout), &st) == nil {
			if st.Status == status {
				return
			}
			last = st.Status
		} else {
			last = res.String()
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("container %s never reached %q; last: %s", id, status, last)
}

// ids returns `list -q`.
func (r *runtime) ids() []string {
	r.t.Helper()
	return strings.Fields(r.mustRun("list", "-q").stdout)
}

// createStarted creates and starts a container from bundle and waits for running.
func (r *runtime) createStarted(id, bundle string) {
	r.t.Helper()
	r.mustRun("create", "--bundle", bundle, id)
	r.mustRun("start", id)
	r.waitStatus(id, "running")
}

var idCounter atomic.Int64

// newID returns a container id unique on this machine (cgroup paths default to
// the id, so ids must not collide across tests or with leftovers).
func newID(t *testing.T) string {
	name := regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("it-%s-%d-%d", strings.ToLower(name), os.Getpid(), idCounter.Add(1))
}

// newBundle copies the base bundle into a temp dir and applies edit (may be nil)
// to its config.json. The process args default to ["sh"].
func newBundle(t *testing.T, edit func(*specs.Spec)) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundle")
	if out, err := exec.Command("cp", "-a", baseBundle, dir).CombinedOutput(); err != nil {
		t.Fatalf("copy bundle: %v\n%s", err, out)
	}
	// t.TempDir makes 0700 dirs; a container whose root maps to a host user
	// (user namespaces) must still be able to reach its rootfs.
	for p := dir; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if edit != nil {
		editSpec(t, dir, edit)
	}
	return dir
}

func readSpec(t *testing.T, bundle string) *specs.Spec {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	return &spec
}

func writeSpec(t *testing.T, bundle string, spec *specs.Spec) {
	t.Helper()
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func editSpec(t *testing.T, bundle string, edit func(*specs.Spec)) {
	t.Helper()
	spec := readSpec(t, bundle)
	edit(spec)
	writeSpec(t, bundle, spec)
}

// withArgs is an edit that sets the process args.
func withArgs(args ...string) func(*specs.Spec) {
	return func(s *specs.Spec) { s.Process.Args = args }
}

// shell is an edit that runs script with sh -c.
func shell(script string) func(*specs.Spec) {
	return withArgs("sh", "-c", script)
}

// addMount appends a mount to the spec.
func addMount(s *specs.Spec, m specs.Mount) {
	s.Mounts = append(s.Mounts, m)
}

// bindMount is a mount of a host path; extra options such as "ro" are appended.
func bindMount(src, dst string, opts ...string) specs.Mount {
	return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: append([]string{"rbind"}, opts...)}
}

// removeNamespace drops a namespace type from the spec.
func removeNamespace(s *specs.Spec, typ specs.LinuxNamespaceType) {
	var kept []specs.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != typ {
			kept = append(kept, ns)
		}
	}
	s.Linux.Namespaces = kept
}

// setNamespace adds the namespace type or replaces its path.
func setNamespace(s *specs.Spec, typ specs.LinuxNamespaceType, path string) {
	removeNamespace(s, typ)
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: typ, Path: path})
}

// runContainer runs a container in the foreground with `run` and returns the
// runtime's result (the container's exit code and output).
func (r *runtime) runContainer(edit func(*specs.Spec), extraArgs ...string) result {
	r.t.Helper()
	bundle := newBundle(r.t, edit)
	args := append([]string{"run", "--bundle", bundle}, extraArgs...)
	return r.run(append(args, newID(r.t))...)
}

// output runs a container that must exit 0 and returns its trimmed stdout.
func (r *runtime) output(edit func(*specs.Spec), extraArgs ...string) string {
	r.t.Helper()
	res := r.runContainer(edit, extraArgs...)
	if res.code != 0 {
		r.t.Fatalf("%v", res)
	}
	return strings.TrimSpace(res.stdout)
}

// waitFile waits for a file to appear (the container writes it).
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
}

// hostDir makes a host directory to bind into a container; mode 0777 so that
// non-root container users can write to it.
func hostDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runtimeNamespaces returns the namespaces the binary reports in `features`,
// or nil when it has no features command.
func runtimeNamespaces(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command(runtimeBin, "features").Output()
	if err != nil {
		return nil
	}
	var f struct {
		Linux struct {
			Namespaces []string `json:"namespaces"`
		} `json:"linux"`
	}
	if json.Unmarshal(out, &f) != nil {
		return nil
	}
	return f.Linux.Namespaces
}

// processExists reports whether a host process with this command line
// substring is alive (leftover-process checks).
func processExists(t *testing.T, pattern string) bool {
	t.Helper()
	out, _ := exec.Command("pgrep", "-f", pattern).Output()
	return strings.TrimSpace(string(out)) != ""
}

// mountsMentioning returns the lines of our mountinfo that contain s.
func mountsMentioning(t *testing.T, s string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, s) {
			lines = append(lines, l)
		}
	}
	return lines
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// nonEmptyLines splits s into its non-blank lines.
func nonEmptyLines(s string) []string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}
