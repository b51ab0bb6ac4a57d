package integration

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// CVE-2019-5736: a privileged container process tries, in a loop, to write
// to /proc/<pid>/exe of every process it can see while the runtime execs
// into the container. The runtime binary on the host must stay unchanged.
func TestRuntimeBinaryCannotBeOverwritten(t *testing.T) {
	// A copy: a failure must not break the rest of the suite.
	bin := filepath.Join(t.TempDir(), filepath.Base(runtimeBin))
	data, err := os.ReadFile(runtimeBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	before := sha256.Sum256(data)
	r := newRuntime(t)
	id := newID(t)
	out := filepath.Join(hostDir(t), "attack.log")
	bundle := newBundle(t, func(s *specs.Spec) {
		all := []string{"CAP_SYS_PTRACE", "CAP_SYS_ADMIN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_KILL"}
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
		addMount(s, bindMount(filepath.Dir(out), "/out"))
		// The real attack: hold the init's exe open while it runs (writing
		// then fails with ETXTBSY), and write through the held fd once the
		// runtime process is gone.
		s.Process.Args = []string{"sh", "-c", `while :; do
			for p in /proc/[0-9]*; do
				case $p in /proc/1|/proc/$$) continue;; esac
				exec 3< $p/exe 2>/dev/null || continue
				i=0
				while [ $i -lt 300 ]; do
					if (echo x >> /proc/self/fd/3) 2>/dev/null; then echo WROTE $p >> /out/attack.log; break; fi
					i=$((i+1))
				done
				exec 3<&-
			done
		done`}
	})
	// Through files, not pipes: a detached container keeps its stdio.
	run := func(args ...string) result {
		cmd := exec.Command(bin, append([]string{"--root", r.root}, args...)...)
		stdout, stderr := captureFile(t), captureFile(t)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		err := cmd.Run()
		return result{stdout: readAll(stdout), stderr: readAll(stderr), code: exitCode(cmd, err)}
	}
	if res := run("run", "-d", "--bundle", bundle, id); res.code != 0 {
		t.Fatalf("run: %v", res)
	}
	// Cleanup with the pristine binary: the copy may be what the attack broke.
	defer r.run("delete", "--force", id)
	for i := 0; i < 30; i++ {
		if res := run("exec", id, "/bin/true"); res.code != 0 {
			t.Fatalf("exec %d: %v", i, res)
		}
	}
	after, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(after) != before {
		log, _ := os.ReadFile(out)
		t.Fatalf("the runtime binary was modified from inside the container (%s)", bytes.TrimSpace(log))
	}
}

// systemd socket activation: LISTEN_FDS fds reach the container as 3.. with
// LISTEN_FDS set and LISTEN_PID=1 (runc does the same).
func TestListenFDs(t *testing.T) {
	r := newRuntime(t)
	f, err := os.CreateTemp(t.TempDir(), "listen")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("socket-activated\n")
	f.Seek(0, 0)
	bundle := newBundle(t, shell(`echo "$LISTEN_FDS $LISTEN_PID"; cat <&3`))
	// LISTEN_PID must be the runtime's own pid: set it in a shell that then
	// execs the runtime.
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"`,
		runtimeBin, "--root", r.root, "run", "--bundle", bundle, newID(t))
	cmd.ExtraFiles = []*os.File{f}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	if got := stdout.String(); got != "1 1\nsocket-activated\n" {
		t.Errorf("container saw %q", got)
	}
}

// The state of a container whose init was killed from outside is "stopped",
// and a stopped or created container is deleted without --force.
func TestStateAfterOutsideKillAndDeleteCreated(t *testing.T) {
	r := newRuntime(t)
	bundle := newBundle(t, withArgs("sleep", "1000"))
	id := newID(t)
	r.createStarted(id, bundle)
	pid := r.state(id).Pid
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r.waitStatus(id, "stopped")
	if st := r.state(id); st.Pid != 0 {
		t.Errorf("stopped container reports pid %d", st.Pid)
	}
	r.mustRun("delete", id)

	created := newID(t)
	r.mustRun("create", "--bundle", bundle, created)
	initPid := r.state(created).Pid
	r.mustRun("delete", created)
	// Gone, or a zombie waiting for its reaper.
	if data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(initPid), "stat")); err == nil && !strings.Contains(string(data), ") Z ") {
		t.Errorf("the init of a deleted created container is still alive: %s", data)
	}
	if len(r.ids()) != 0 {
		t.Errorf("containers left: %v", r.ids())
	}
}
