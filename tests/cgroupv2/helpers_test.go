// Package cgroupv2 tests the runtime binary on a pure cgroup v2 kernel. It is
// compiled with `go test -c` and run inside the VM that hack/vm/run-in-vm.sh
// boots (hack/vm/test-cgroupv2.sh does all of it), because the development
// hosts are hybrid v1/v2.
//
// Environment: ROOTLET_BIN is the runtime under test (runc works too, which
// is how the tests are checked against the contract rather than our code),
// BUNDLE a directory whose rootfs/ holds a busybox root filesystem,
// ROOTLET_VM=1 says we are in the VM: there a host without pure v2 fails
// instead of skipping.
package cgroupv2

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	cgroupMount = "/sys/fs/cgroup"
	// parentCgroup holds every test container's cgroup (linux.cgroupsPath
	// is set explicitly so a stopped container's cgroup can still be found).
	parentCgroup = "/rootlet-v2test"
	// commandTimeout bounds each runtime call; TCG emulation is slow.
	commandTimeout = 90 * time.Second
)

var (
	runtimeBin string
	rootfsDir  string
)

func TestMain(m *testing.M) {
	inVM := os.Getenv("ROOTLET_VM") == "1"
	if !isCgroup2(cgroupMount) && !inVM {
		fmt.Fprintln(os.Stderr, "cgroupv2: /sys/fs/cgroup is not cgroup2; these tests run in the VM (hack/vm/test-cgroupv2.sh); skipping")
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "cgroupv2: needs root")
		os.Exit(1)
	}
	bin := os.Getenv("ROOTLET_BIN")
	if bin == "" {
		bin = "rootlet"
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cgroupv2: ROOTLET_BIN=%s: %v\n", bin, err)
		os.Exit(1)
	}
	runtimeBin, _ = filepath.Abs(p)
	rootfsDir = filepath.Join(os.Getenv("BUNDLE"), "rootfs")
	if _, err := os.Stat(filepath.Join(rootfsDir, "bin", "sh")); err != nil {
		fmt.Fprintf(os.Stderr, "cgroupv2: BUNDLE=%q has no rootfs/bin/sh\n", os.Getenv("BUNDLE"))
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "cgroupv2: testing %s\n", runtimeBin)
	os.Exit(m.Run())
}

func isCgroup2(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// result is one finished runtime invocation.
type result struct {
	args           []string
	stdout, stderr string
	code           int // 128+signal when killed, -1 when it did not run
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

func newRuntime(t *testing.T) *runtime {
	r := &runtime{t: t, root: t.TempDir()}
	return r
}

func (r *runtime) command(args ...string) *exec.Cmd {
	cmd := exec.Command(runtimeBin, append([]string{"--root", r.root}, args...)...)
	cmd.WaitDelay = 5 * time.Second // a container holding our pipes must not hang us
	return cmd
}

func (r *runtime) wait(cmd *exec.Cmd) result {
	r.t.Helper()
	var stdout, stderr bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	res := result{args: cmd.Args, code: -1}
	if err := cmd.Start(); err != nil {
		res.stderr = err.Error()
		return res
	}
	timer := time.AfterFunc(commandTimeout, func() { _ = cmd.Process.Kill() })
	_ = cmd.Wait()
	timer.Stop()
	res.stdout, res.stderr = stdout.String(), stderr.String()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.code = 128 + int(ws.Signal())
	} else {
		res.code = cmd.ProcessState.ExitCode()
	}
	return res
}

func (r *runtime) run(args ...string) result {
	r.t.Helper()
	return r.wait(r.command(args...))
}

// mustRun fails the test unless the command exits 0.
func (r *runtime) mustRun(args ...string) result {
	r.t.Helper()
	res := r.run(args...)
	if res.code != 0 {
		r.t.Fatalf("%v", res)
	}
	return res
}

// container is one test container: its bundle, id and the cgroup it must get.
type container struct {
	rt     *runtime
	id     string
	bundle string
	spec   *specs.Spec
	// out collects the container process's stdout and stderr (a file, not
	// a pipe: `create` returns while the process still holds it).
	out string
}

// newContainer writes a bundle whose process runs `sh -c script` with the
// given resources. The rootfs is shared and read-only.
func newContainer(t *testing.T, rt *runtime, script string, res *specs.LinuxResources) *container {
	t.Helper()
	id := "v2-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	bundle := t.TempDir()
	spec := defaultSpec(rootfsDir, []string{"sh", "-c", script})
	spec.Linux.CgroupsPath = parentCgroup + "/" + id
	spec.Linux.Resources = res
	c := &container{rt: rt, id: id, bundle: bundle, spec: spec, out: filepath.Join(bundle, "out")}
	c.writeSpec()
	t.Cleanup(func() {
		if res := rt.run("delete", "--force", c.id); res.code != 0 && !strings.Contains(res.stderr, "does not exist") {
			t.Logf("cleanup: %v", res)
		}
	})
	return c
}

func (c *container) writeSpec() {
	c.rt.t.Helper()
	data, err := json.MarshalIndent(c.spec, "", "\t")
	if err != nil {
		c.rt.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.bundle, "config.json"), data, 0o644); err != nil {
		c.rt.t.Fatal(err)
	}
}

// cgroupDir is where linux.cgroupsPath puts the container on a v2 host.
func (c *container) cgroupDir() string { return filepath.Join(cgroupMount, c.spec.Linux.CgroupsPath) }

// createStart runs `create` then `start`, the container's output going to
// c.out, and waits until the process has printed "ready".
func (c *container) createStart() {
	t := c.rt.t
	t.Helper()
	out, err := os.Create(c.out)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := c.rt.command("create", "--bundle", c.bundle, c.id)
	cmd.Stdout, cmd.Stderr = out, out
	if res := c.rt.wait(cmd); res.code != 0 {
		t.Fatalf("%v\ncontainer output: %q", res, c.output())
	}
	if res := c.rt.run("start", c.id); res.code != 0 {
		t.Fatalf("%v\ncontainer output: %q", res, c.output())
	}
	c.waitOutput("ready")
}

func (c *container) output() string {
	data, _ := os.ReadFile(c.out)
	return string(data)
}

func (c *container) waitOutput(want string) {
	c.rt.t.Helper()
	deadline := time.Now().Add(commandTimeout)
	for !strings.Contains(c.output(), want) {
		if time.Now().After(deadline) {
			c.rt.t.Fatalf("container never printed %q; output: %q", want, c.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// state is the part of `state`'s JSON the tests use.
type state struct {
	ID     string `json:"id"`
	Pid    int    `json:"pid"`
	Status string `json:"status"`
}

func (c *container) state() state {
	c.rt.t.Helper()
	res := c.rt.mustRun("state", c.id)
	var st state
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		c.rt.t.Fatalf("state JSON: %v\n%s", err, res.stdout)
	}
	return st
}

// procCgroupDir reads /proc/<pid>/cgroup, which on pure v2 is the single
// line "0::<path>", and returns the directory under the cgroup2 mount.
func procCgroupDir(pid int) (string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "0::") {
		return "", fmt.Errorf("/proc/%d/cgroup is not a pure v2 one: %q", pid, data)
	}
	return filepath.Join(cgroupMount, strings.TrimPrefix(lines[0], "0::")), nil
}

// readCgroupFile returns a cgroup file's content without the trailing newline.
func readCgroupFile(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// flatKeyed parses a "key value" per line file (memory.events, cgroup.events).
func flatKeyed(t *testing.T, dir, name string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, line := range strings.Split(readCgroupFile(t, dir, name), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s: bad line %q", name, line)
		}
		out[k] = n
	}
	return out
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, os.ErrNotExist)
}

func ptr[T any](v T) *T { return &v }

// defaultSpec is runc's `spec` default (namespaces, mounts, masked paths)
// with a read-only shared rootfs and the given process arguments.
func defaultSpec(rootfs string, args []string) *specs.Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: rootfs, Readonly: true},
		Process: &specs.Process{
			Args: args,
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Hostname: "cgroupv2",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}, {Type: specs.CgroupNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
			},
			ReadonlyPaths: []string{
				"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
			},
		},
	}
}
