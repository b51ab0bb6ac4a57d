package integration

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// With a cgroup namespace the container sees its own cgroup as the root,
// in every hierarchy (runc: the same).
func TestCgroupNamespace(t *testing.T) {
	r := newRuntime(t)
	out := r.output(func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
		s.Process.Args = []string{"cat", "/proc/self/cgroup"}
	})
	lines := nonEmptyLines(out)
	if len(lines) == 0 {
		t.Fatal("no /proc/self/cgroup output")
	}
	for _, l := range lines {
		if !strings.HasSuffix(l, ":/") {
			t.Errorf("cgroup line %q is not the namespace root", l)
		}
	}
	// Without one, the container's cgroup path shows.
	out = r.output(withArgs("cat", "/proc/self/cgroup"))
	if !strings.Contains(out, ":/") || strings.HasSuffix(nonEmptyLines(out)[0], ":/") {
		t.Errorf("without a cgroup namespace: %q", out)
	}
}
