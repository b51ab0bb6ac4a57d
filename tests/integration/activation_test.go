package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// activationFiles makes n files holding "fd-3", "fd-4", ... to pass as the
// runtime's fds 3.. (what systemd passes for a socket-activated service).
func activationFiles(t *testing.T, n int) []*os.File {
	t.Helper()
	var files []*os.File
	for i := 0; i < n; i++ {
		f, err := os.CreateTemp(t.TempDir(), "activation")
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("fd-" + string(rune('3'+i)) + "\n")
		f.Seek(0, 0)
		t.Cleanup(func() { f.Close() })
		files = append(files, f)
	}
	return files
}

// runActivated runs the runtime through a shell that sets LISTEN_PID to
// pidExpr (evaluated by that shell, which then execs the runtime, so "$$" is
// the runtime's pid) and LISTEN_FDS to fds.
func runActivated(t *testing.T, r *runtime, pidExpr, fds string, files []*os.File, args ...string) result {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", `LISTEN_PID=` + pidExpr + ` LISTEN_FDS=` + fds + ` exec "$0" "$@"`,
		runtimeBin, "--root", r.root}, args...)...)
	cmd.ExtraFiles = files
	return r.wait(cmd)
}

// With create + start (the detached path containerd uses) two activation
// fds reach the container as 3 and 4 with LISTEN_FDS=2 and LISTEN_PID=1.
func TestListenFDsDetached(t *testing.T) {
	r := newRuntime(t)
	out := hostDir(t)
	bundle := newBundle(t, func(s *specs.Spec) {
		addMount(s, bindMount(out, "/out"))
		s.Process.Args = []string{"sh", "-c", `{ echo "$LISTEN_FDS $LISTEN_PID"; cat <&3; cat <&4; } > /out/seen 2>&1`}
	})
	id := newID(t)
	if res := runActivated(t, r, "$$", "2", activationFiles(t, 2), "create", "--bundle", bundle, id); res.code != 0 {
		t.Fatalf("%v", res)
	}
	r.mustRun("start", id)
	r.waitStatus(id, "stopped")
	data, err := os.ReadFile(filepath.Join(out, "seen"))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(data); got != "2 1\nfd-3\nfd-4\n" {
		t.Errorf("container saw %q, want LISTEN_FDS=2 LISTEN_PID=1 and both fds", got)
	}
}

// LISTEN_FDS meant for another process (LISTEN_PID is not the runtime's) is
// ignored: the fd does not reach the container and neither does the
// variable (sd_listen_fds semantics, as runc).
func TestListenFDsForAnotherPid(t *testing.T) {
	r := newRuntime(t)
	bundle := newBundle(t, shell(`echo "fds=$LISTEN_FDS"; cat <&3 2>/dev/null || echo no-fd-3`))
	res := runActivated(t, r, "1", "1", activationFiles(t, 1), "run", "--bundle", bundle, newID(t))
	if res.code != 0 {
		t.Fatalf("%v", res)
	}
	if res.stdout != "fds=\nno-fd-3\n" {
		t.Errorf("container saw %q, want neither LISTEN_FDS nor fd 3", res.stdout)
	}
}

// --preserve-fds counts the fds after the activation ones: LISTEN_FDS=1 plus
// --preserve-fds 1 passes fds 3 and 4.
func TestListenFDsWithPreserveFDs(t *testing.T) {
	r := newRuntime(t)
	bundle := newBundle(t, shell(`echo "$LISTEN_FDS"; cat <&3; cat <&4; ls /proc/self/fd | tr '\n' ' '`))
	res := runActivated(t, r, "$$", "1", activationFiles(t, 2), "run", "--preserve-fds", "1", "--bundle", bundle, newID(t))
	if res.code != 0 {
		t.Fatalf("%v", res)
	}
	lines := nonEmptyLines(res.stdout)
	if len(lines) != 4 || lines[0] != "1" || lines[1] != "fd-3" || lines[2] != "fd-4" {
		t.Fatalf("container saw %q", res.stdout)
	}
	// 0 1 2 3 4 and ls's own directory fd; nothing else of the runtime's.
	if fds := strings.Fields(lines[3]); len(fds) > 6 {
		t.Errorf("fds in the container: %v", fds)
	}
}
