package integration

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// statusField returns one field of /proc/self/status as the container sees it.
func statusField(t *testing.T, r *runtime, field string, edit func(*specs.Spec)) string {
	t.Helper()
	out := r.output(func(s *specs.Spec) {
		if edit != nil {
			edit(s)
		}
		s.Process.Args = []string{"grep", "^" + field + ":", "/proc/self/status"}
	})
	return strings.TrimSpace(strings.TrimPrefix(out, field+":"))
}

func TestProcessEnvAndCwd(t *testing.T) {
	r := newRuntime(t)
	out := r.output(func(s *specs.Spec) {
		s.Process.Env = append(s.Process.Env, "IT_VAR=some value")
		s.Process.Cwd = "/etc"
		s.Process.Args = []string{"sh", "-c", `echo "$IT_VAR"; pwd`}
	})
	if out != "some value\n/etc" {
		t.Errorf("env and cwd: %q", out)
	}
}

func TestProcessUser(t *testing.T) {
	r := newRuntime(t)
	out := r.output(func(s *specs.Spec) {
		s.Process.User = specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{10, 20}}
		s.Process.Args = []string{"sh", "-c", "id -u; id -g; grep ^Groups: /proc/self/status"}
	})
	lines := strings.Split(out, "\n")
	if len(lines) != 3 || lines[0] != "1000" || lines[1] != "1001" {
		t.Fatalf("uid/gid: %q", out)
	}
	groups := strings.Fields(strings.TrimPrefix(lines[2], "Groups:"))
	sort.Strings(groups)
	if strings.Join(groups, ",") != "10,20" {
		t.Errorf("supplementary groups %v, want [10 20]", groups)
	}
}

func TestProcessUmask(t *testing.T) {
	r := newRuntime(t)
	mask := uint32(0o027)
	out := r.output(func(s *specs.Spec) {
		s.Process.User.Umask = &mask
		s.Process.Args = []string{"sh", "-c", "umask"}
	})
	if out != "0027" {
		t.Errorf("umask %q, want 0027", out)
	}
}

func TestProcessRlimits(t *testing.T) {
	r := newRuntime(t)
	out := r.output(func(s *specs.Spec) {
		// Lowering works without CAP_SYS_RESOURCE (this machine lacks it).
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 321, Hard: 654}}
		s.Process.Args = []string{"sh", "-c", "ulimit -n; ulimit -Hn"}
	})
	if out != "321\n654" {
		t.Errorf("RLIMIT_NOFILE soft/hard: %q, want 321/654", out)
	}
}

func TestCapabilities(t *testing.T) {
	r := newRuntime(t)
	only := []string{"CAP_NET_BIND_SERVICE"} // bit 10
	edit := func(s *specs.Spec) {
		s.Process.Capabilities = &specs.LinuxCapabilities{
			Bounding: only, Effective: only, Permitted: only,
		}
	}
	for _, field := range []string{"CapEff", "CapPrm", "CapBnd"} {
		if got := statusField(t, r, field, edit); got != "0000000000000400" {
			t.Errorf("%s %s, want 0000000000000400", field, got)
		}
	}
	// The default spec's three capabilities: AUDIT_WRITE(29) KILL(5) NET_BIND_SERVICE(10).
	if got := statusField(t, r, "CapEff", nil); got != "0000000020000420" {
		t.Errorf("default CapEff %s, want 0000000020000420", got)
	}
}

func TestNoNewPrivileges(t *testing.T) {
	r := newRuntime(t)
	if got := statusField(t, r, "NoNewPrivs", func(s *specs.Spec) { s.Process.NoNewPrivileges = true }); got != "1" {
		t.Errorf("NoNewPrivs %q with noNewPrivileges true", got)
	}
	if got := statusField(t, r, "NoNewPrivs", func(s *specs.Spec) { s.Process.NoNewPrivileges = false }); got != "0" {
		t.Errorf("NoNewPrivs %q with noNewPrivileges false", got)
	}
}

func TestOOMScoreAdj(t *testing.T) {
	r := newRuntime(t)
	adj := 567
	out := r.output(func(s *specs.Spec) {
		s.Process.OOMScoreAdj = &adj
		s.Process.Args = []string{"cat", "/proc/self/oom_score_adj"}
	})
	if out != "567" {
		t.Errorf("oom_score_adj %q, want 567", out)
	}
}

// TestPreserveFDs: --preserve-fds N passes fds 3..3+N-1 to the container and
// nothing else of the runtime's leaks in.
func TestPreserveFDs(t *testing.T) {
	r := newRuntime(t)
	extra, err := os.CreateTemp(t.TempDir(), "fd3")
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if _, err := extra.WriteString("via fd 3\n"); err != nil {
		t.Fatal(err)
	}
	// ls lists its own /proc/self/fd, so it shows the fd it reads it with too.
	script := "cat /proc/self/fd/3 2>/dev/null; ls /proc/self/fd | tr '\\n' ' '"
	for _, tc := range []struct {
		preserve string
		wantText bool
		maxFDs   int // 0 1 2, (3), and the directory fd of ls
	}{
		{"1", true, 5},
		{"0", false, 4},
	} {
		extra.Seek(0, 0)
		bundle := newBundle(t, shell(script))
		cmd := r.command("run", "--preserve-fds", tc.preserve, "--bundle", bundle, newID(t))
		cmd.ExtraFiles = []*os.File{extra} // fd 3 of the runtime
		res := r.wait(cmd)
		if res.code != 0 {
			t.Fatalf("%v", res)
		}
		if got := strings.Contains(res.stdout, "via fd 3"); got != tc.wantText {
			t.Errorf("--preserve-fds %s: container read fd 3: %v: %v", tc.preserve, got, res)
		}
		lines := nonEmptyLines(res.stdout)
		fds := strings.Fields(lines[len(lines)-1])
		if len(fds) > tc.maxFDs {
			t.Errorf("--preserve-fds %s: fds leaked into the container: %v", tc.preserve, fds)
		}
	}
}

// TestHostFDsDoNotLeak: files the runtime itself opens (state dir, config,
// sockets) must be closed before the user's program runs.
func TestHostFDsDoNotLeak(t *testing.T) {
	r := newRuntime(t)
	out := r.output(shell("for f in /proc/self/fd/*; do echo $(readlink $f); done"))
	for _, target := range strings.Split(out, "\n") {
		if strings.Contains(target, r.root) || strings.Contains(target, filepath.Base(baseBundle)) ||
			strings.HasPrefix(target, "anon_inode:") || strings.HasPrefix(target, "socket:") {
			t.Errorf("runtime fd leaked into the container: %s (all: %q)", target, out)
		}
	}
}
