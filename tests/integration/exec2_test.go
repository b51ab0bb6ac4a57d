package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// sleepingContainer creates and starts a container running `sleep 1000`.
func sleepingContainer(t *testing.T, r *runtime) string {
	t.Helper()
	id := newID(t)
	r.createStarted(id, newBundle(t, withArgs("sleep", "1000")))
	return id
}

// readPidFile returns the pid a runtime wrote to path.
func readPidFile(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return atoi(t, string(data))
}

// `exec -t -d --console-socket` hands the exec'd process's pty master to the
// socket (what containerd does for `ctr task exec -t`) and returns at once.
func TestExecDetachedTerminal(t *testing.T) {
	r := newRuntime(t)
	id := sleepingContainer(t, r)
	sock, masters := consoleSocket(t)
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	start := time.Now()
	r.mustRun("exec", "-t", "-d", "--console-socket", sock, "--pid-file", pidFile, id,
		"sh", "-c", "tty; echo exec-tty-ok; sleep 1001")
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("exec -d took %v: it waited for the process", took)
	}
	var master *os.File
	select {
	case master = <-masters:
	case <-time.After(5 * time.Second):
	}
	if master == nil {
		t.Fatal("no pty master received on the console socket")
	}
	defer master.Close()
	out := readUntil(master, "exec-tty-ok", 10*time.Second)
	if !strings.Contains(out, "exec-tty-ok") || !regexp.MustCompile(`/dev/pts/\d+`).MatchString(out) {
		t.Errorf("exec'd process output through the pty: %q", out)
	}
	pid := readPidFile(t, pidFile)
	// busybox sh execs its last command in place, so the pid may be sleep's.
	if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); !strings.HasPrefix(string(cmdline), "sh\x00") && string(cmdline) != "sleep\x001001\x00" {
		t.Errorf("pid file names %d, which is %q", pid, cmdline)
	}
}

// A detached exec with a terminal has nowhere to put the pty without a
// console socket; runc refuses before starting anything.
func TestExecDetachedTerminalNeedsConsoleSocket(t *testing.T) {
	r := newRuntime(t)
	id := sleepingContainer(t, r)
	res := r.mustFail("exec", "-t", "-d", id, "sleep", "999")
	if !strings.Contains(res.stderr, "console socket") {
		t.Errorf("error does not mention the console socket: %v", res)
	}
	if out := r.mustRun("exec", id, "ps", "-o", "args").stdout; strings.Contains(out, "sleep 999") {
		t.Errorf("the refused process runs anyway:\n%s", out)
	}
}

// runc lets a process be exec'd into a created (not yet started) container;
// the container stays created and starts normally afterwards.
func TestExecIntoCreatedContainer(t *testing.T) {
	r := newRuntime(t)
	shared := hostDir(t)
	bundle := newBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "touch /shared/started; exec sleep 1000"}
		addMount(s, bindMount(shared, "/shared"))
	})
	id := newID(t)
	r.mustRun("create", "--bundle", bundle, id)
	if out := r.mustRun("exec", id, "sh", "-c", "echo in-created; hostname >/dev/null").stdout; out != "in-created\n" {
		t.Errorf("exec into a created container: %q", out)
	}
	if st := r.state(id).Status; st != "created" {
		t.Errorf("status after exec: %s, want created", st)
	}
	if _, err := os.Stat(filepath.Join(shared, "started")); err == nil {
		t.Error("exec started the container's own program")
	}
	r.mustRun("start", id)
	waitFile(t, filepath.Join(shared, "started"))
}

// When the runtime cannot start the exec'd program it exits 255 (runc's
// "exec failed" status), and says why in the words Podman and CRI-O match on
// to turn it into 127/126.
func TestExecFailureExitCodes(t *testing.T) {
	r := newRuntime(t)
	id := sleepingContainer(t, r)
	for _, tc := range []struct {
		args []string
		why  string
	}{
		{[]string{"/no/such/binary"}, "no such file or directory"},
		{[]string{"no-such-command"}, "executable file not found"},
		{[]string{"/etc/passwd"}, "permission denied"},
	} {
		res := r.run(append([]string{"exec", id}, tc.args...)...)
		if res.code != 255 {
			t.Errorf("exit code %d, want runc's 255: %v", res.code, res)
		}
		if !strings.Contains(res.stderr, tc.why) {
			t.Errorf("error does not say %q: %v", tc.why, res)
		}
	}
	// The program's own status passes through untouched, also death by signal.
	if res := r.run("exec", id, "sh", "-c", "kill -9 $$"); res.code != 137 {
		t.Errorf("exec'd process killed by SIGKILL: want 137: %v", res)
	}
	if res := r.run("exec", id, "sh", "-c", "exit 255"); res.code != 255 {
		t.Errorf("want 255: %v", res)
	}
}

// An exec'd process is in every cgroup of the container: limits and
// `kill --all`/`delete` reach it.
func TestExecJoinsContainerCgroups(t *testing.T) {
	r := newRuntime(t)
	id := sleepingContainer(t, r)
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	r.mustRun("exec", "-d", "--pid-file", pidFile, id, "sleep", "999")
	initCg := readTrim(t, fmt.Sprintf("/proc/%d/cgroup", r.state(id).Pid))
	execCg := readTrim(t, fmt.Sprintf("/proc/%d/cgroup", readPidFile(t, pidFile)))
	if execCg != initCg {
		t.Errorf("exec'd process cgroups:\n%s\ninit's:\n%s", execCg, initCg)
	}
}

// Capabilities and groups of an exec'd process come from its flags.
func TestExecCapsAndGroups(t *testing.T) {
	r := newRuntime(t)
	id := sleepingContainer(t, r)
	capEff := func(args ...string) uint64 {
		out := r.mustRun(append(append([]string{"exec"}, args...), id, "grep", "CapEff", "/proc/self/status")...).stdout
		f := strings.Fields(out)
		if len(f) != 2 {
			t.Fatalf("CapEff line: %q", out)
		}
		v, err := strconv.ParseUint(f[1], 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	const netAdmin = 1 << 12
	if plain := capEff(); plain&netAdmin != 0 {
		t.Errorf("CAP_NET_ADMIN without asking: %#x", plain)
	}
	if added := capEff("--cap", "CAP_NET_ADMIN"); added&netAdmin == 0 {
		t.Errorf("exec --cap CAP_NET_ADMIN: CapEff %#x", added)
	}
	out := strings.Fields(r.mustRun("exec", "-u", "1000:1000", "--additional-gids", "10", "--additional-gids", "20", id, "id", "-G").stdout)
	if !contains(out, "10") || !contains(out, "20") || !contains(out, "1000") {
		t.Errorf("id -G with --additional-gids 10 20: %v", out)
	}
}

// Many execs into one container at once all run, each with its own output.
func TestConcurrentExecs(t *testing.T) {
	r := newRuntime(t)
	id := sleepingContainer(t, r)
	const total, parallel = 40, 8
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for i := 0; i < total; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			want := fmt.Sprintf("exec-%d", i)
			res := r.wait(r.command("exec", id, "sh", "-c", "echo $0; exit $1", want, strconv.Itoa(i%5)))
			if res.code != i%5 || res.stdout != want+"\n" {
				mu.Lock()
				failures = append(failures, res.String())
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if st := r.state(id).Status; st != "running" {
		t.Errorf("container status after the execs: %s", st)
	}
}
