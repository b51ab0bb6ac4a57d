package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestHostname(t *testing.T) {
	r := newRuntime(t)
	out := r.output(func(s *specs.Spec) {
		s.Hostname = "it-host"
		s.Process.Args = []string{"hostname"}
	})
	if out != "it-host" {
		t.Errorf("hostname inside: %q", out)
	}
}

func TestPidNamespace(t *testing.T) {
	r := newRuntime(t)
	if out := r.output(shell("echo $$")); out != "1" {
		t.Errorf("pid of the container program: %q, want 1", out)
	}
	// Only the container's own processes are visible.
	out := r.output(shell("ls -d /proc/[0-9]* | wc -l"))
	if n := atoi(t, out); n > 3 {
		t.Errorf("%d processes visible in a fresh pid namespace", n)
	}
}

func TestNetworkNamespace(t *testing.T) {
	r := newRuntime(t)
	if out := r.output(withArgs("ls", "/sys/class/net")); out != "lo" {
		t.Errorf("interfaces in a new network namespace: %q, want only lo", out)
	}
}

func TestJoinNetworkNamespace(t *testing.T) {
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) not installed")
	}
	r := newRuntime(t)
	name := newID(t)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	path := "/run/netns/" + name
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	out := r.output(func(s *specs.Spec) {
		setNamespace(s, specs.NetworkNamespace, path)
		s.Process.Args = []string{"readlink", "/proc/self/ns/net"}
	})
	if want := fmt.Sprintf("net:[%d]", st.Ino); out != want {
		t.Errorf("container network namespace %q, want %q", out, want)
	}
}

func TestUserNamespace(t *testing.T) {
	r := newRuntime(t)
	const hostID, size = 100000, 65536
	bundle := newBundle(t, func(s *specs.Spec) {
		setNamespace(s, specs.UserNamespace, "")
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: hostID, Size: size}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: hostID, Size: size}}
		s.Process.Args = []string{"sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u /bin/busybox"}
	})
	rootfs := filepath.Join(bundle, "rootfs")
	if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", hostID, hostID), rootfs).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
	res := r.run("run", "--bundle", bundle, newID(t))
	if res.code != 0 {
		t.Fatalf("%v", res)
	}
	lines := nonEmptyLines(res.stdout)
	if len(lines) != 4 {
		t.Fatalf("output: %q", res.stdout)
	}
	for i, name := range []string{"uid_map", "gid_map"} {
		if f := strings.Fields(lines[i]); strings.Join(f, " ") != fmt.Sprintf("0 %d %d", hostID, size) {
			t.Errorf("%s inside: %q", name, lines[i])
		}
	}
	if lines[2] != "0" {
		t.Errorf("uid inside: %q", lines[2])
	}
	// The rootfs owned by host uid 100000 is owned by root inside.
	if lines[3] != "0" {
		t.Errorf("owner of /bin/busybox inside: %q", lines[3])
	}
}

func TestTimeNamespace(t *testing.T) {
	if ns := runtimeNamespaces(t); ns != nil && !contains(ns, "time") {
		t.Skipf("%s does not support time namespaces (features: %v)", filepath.Base(runtimeBin), ns)
	}
	r := newRuntime(t)
	const offset = 10 * 365 * 24 * 3600 // ten years
	out := r.output(func(s *specs.Spec) {
		setNamespace(s, specs.TimeNamespace, "")
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{
			"boottime":  {Secs: offset},
			"monotonic": {Secs: offset},
		}
		s.Process.Args = []string{"cat", "/proc/uptime"}
	})
	fields := strings.Fields(out)
	if len(fields) == 0 {
		t.Fatalf("/proc/uptime: %q", out)
	}
	up, err := strconv.ParseFloat(fields[0], 64)
	if err != nil || up < offset {
		t.Errorf("uptime inside %q, want >= %d (the boottime offset)", fields[0], offset)
	}
	hostUp, _ := os.ReadFile("/proc/uptime")
	if h, _ := strconv.ParseFloat(strings.Fields(string(hostUp))[0], 64); h >= offset {
		t.Skip("host uptime is already past the offset; nothing proved")
	}
}
