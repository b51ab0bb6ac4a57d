package caps

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Applying capabilities is irreversible, so a child copy of the test binary
// does it and prints its /proc/self/status.
func TestMain(m *testing.M) {
	if os.Getenv("CAPS_TEST_CHILD") == "1" {
		c := &specs.LinuxCapabilities{
			Bounding:    []string{"CAP_NET_BIND_SERVICE", "CAP_CHOWN"},
			Effective:   []string{"CAP_NET_BIND_SERVICE"},
			Permitted:   []string{"CAP_NET_BIND_SERVICE", "CAP_CHOWN"},
			Inheritable: []string{"CAP_NET_BIND_SERVICE"},
			Ambient:     []string{"CAP_NET_BIND_SERVICE"},
		}
		if err := ApplyBounding(c); err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(1)
		}
		if err := Apply(c); err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(1)
		}
		data, _ := os.ReadFile("/proc/self/status")
		os.Stdout.Write(data)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestApplySets(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "CAPS_TEST_CHILD=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v %s", err, out)
	}
	want := map[string]string{
		"CapBnd": "0000000000000401", // CHOWN(0) | NET_BIND_SERVICE(10)
		"CapPrm": "0000000000000401",
		"CapEff": "0000000000000400",
		"CapInh": "0000000000000400",
		"CapAmb": "0000000000000400",
	}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if w, found := want[k]; ok && found {
			if strings.TrimSpace(v) != w {
				t.Errorf("%s = %s, want %s", k, strings.TrimSpace(v), w)
			}
			delete(want, k)
		}
	}
	if len(want) != 0 {
		t.Errorf("missing lines %v", want)
	}
}

func TestUnknownCapability(t *testing.T) {
	err := ApplyBounding(&specs.LinuxCapabilities{Bounding: []string{"CAP_FOO"}})
	if err == nil || err.Error() != `unknown capability "CAP_FOO"` {
		t.Fatalf("err = %v", err)
	}
}
