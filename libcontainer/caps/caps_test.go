package caps

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// sample keeps CHOWN (bit 0) in bounding and permitted only, and
// NET_BIND_SERVICE (bit 10) in every set.
var sample = &specs.LinuxCapabilities{
	Bounding:    []string{"CAP_NET_BIND_SERVICE", "CAP_CHOWN"},
	Effective:   []string{"CAP_NET_BIND_SERVICE"},
	Permitted:   []string{"CAP_NET_BIND_SERVICE", "CAP_CHOWN"},
	Inheritable: []string{"CAP_NET_BIND_SERVICE"},
	Ambient:     []string{"CAP_NET_BIND_SERVICE"},
}

var sampleMasks = map[string]string{
	"CapBnd": "0000000000000401",
	"CapPrm": "0000000000000401",
	"CapEff": "0000000000000400",
	"CapInh": "0000000000000400",
	"CapAmb": "0000000000000400",
}

// Applying capabilities is irreversible, so a child copy of the test binary
// does it, in the order the init uses, and prints its thread's status.
func TestMain(m *testing.M) {
	mode := os.Getenv("CAPS_TEST_CHILD")
	if mode == "" {
		os.Exit(m.Run())
	}
	// Capabilities are per thread: stay on the one we change and read.
	runtime.LockOSThread()
	if err := childApply(mode); err != nil {
		os.Stderr.WriteString(err.Error())
		os.Exit(1)
	}
	data, _ := os.ReadFile("/proc/thread-self/status")
	os.Stdout.Write(data)
	os.Exit(0)
}

func childApply(mode string) error {
	c := sample
	if mode == "nil" {
		c = nil
	}
	if err := ApplyBounding(c); err != nil {
		return err
	}
	if mode == "user" {
		// The init's uid switch, raw so it stays on this thread.
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return err
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, 65534, 65534, 65534); e != 0 {
			return e
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, 65534, 65534, 65534); e != 0 {
			return e
		}
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
			return err
		}
	}
	return Apply(c)
}

func runChild(t *testing.T, mode string) map[string]string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CAPS_TEST_CHILD="+mode)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v: %s", err, stderr.String())
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			got[k] = strings.TrimSpace(v)
		}
	}
	return got
}

func assertMasks(t *testing.T, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %s", k, got[k], w)
		}
	}
}

func TestApplyAsRoot(t *testing.T) {
	assertMasks(t, runChild(t, "root"), sampleMasks)
}

func TestApplyAfterUserSwitch(t *testing.T) {
	got := runChild(t, "user")
	if !strings.HasPrefix(got["Uid"], "65534") {
		t.Fatalf("child did not switch user: Uid %q", got["Uid"])
	}
	assertMasks(t, got, sampleMasks)
}

func TestNilLeavesCapsAlone(t *testing.T) {
	ours, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, line := range strings.Split(string(ours), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.HasPrefix(k, "Cap") {
			want[k] = strings.TrimSpace(v)
		}
	}
	assertMasks(t, runChild(t, "nil"), want)
}

func TestUnknownCapability(t *testing.T) {
	err := ApplyBounding(&specs.LinuxCapabilities{Bounding: []string{"CAP_FOO"}})
	if err == nil || err.Error() != `unknown capability "CAP_FOO"` {
		t.Fatalf("err = %v", err)
	}
	// Apply checks every set before it changes anything, so this is safe.
	err = Apply(&specs.LinuxCapabilities{Effective: []string{"CAP_CHOWN"}, Ambient: []string{"CAP_X"}})
	if err == nil || err.Error() != `unknown capability "CAP_X"` {
		t.Fatalf("err = %v", err)
	}
}

func TestCapsAboveKernelLastAreSkipped(t *testing.T) {
	got, err := parse([]string{"CAP_CHOWN", "CAP_CHECKPOINT_RESTORE", "cap_kill"}, capability.CAP_SYSLOG)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []capability.Cap{capability.CAP_CHOWN, capability.CAP_KILL}) {
		t.Fatalf("parse = %v", got)
	}
}

func TestKnown(t *testing.T) {
	k := Known()
	if k[0] != "CAP_CHOWN" || !slices.Contains(k, "CAP_CHECKPOINT_RESTORE") || !slices.Contains(k, "CAP_NET_BIND_SERVICE") {
		t.Fatalf("Known() = %v", k)
	}
	if len(k) != len(capability.ListKnown()) {
		t.Fatalf("Known() has %d names", len(k))
	}
}

func TestUnavailable(t *testing.T) {
	if got := Unavailable(&specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN", "CAP_BOGUS"}}); len(got) != 0 {
		t.Fatalf("Unavailable = %v (CAP_CHOWN exists, unknown names are not its business)", got)
	}
	if Unavailable(nil) != nil {
		t.Fatal("Unavailable(nil) not nil")
	}
}
