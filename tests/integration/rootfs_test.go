package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestReadonlyRoot(t *testing.T) {
	r := newRuntime(t)
	res := r.runContainer(func(s *specs.Spec) {
		s.Root.Readonly = true
		s.Process.Args = []string{"touch", "/it-file"}
	})
	if res.code == 0 {
		t.Fatalf("touch / succeeded on a readonly root: %v", res)
	}
	if !strings.Contains(res.stderr, "Read-only file system") {
		t.Errorf("touch error: %v", res)
	}

	// And a writable root is writable.
	r.output(func(s *specs.Spec) {
		s.Root.Readonly = false
		s.Process.Args = []string{"touch", "/it-file"}
	})
}

func TestTmpfsMount(t *testing.T) {
	r := newRuntime(t)
	out := r.output(func(s *specs.Spec) {
		addMount(s, specs.Mount{Destination: "/data", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "mode=0750"}})
		s.Process.Args = []string{"sh", "-c", "grep ' /data ' /proc/mounts; stat -c %a /data; echo x > /data/f && cat /data/f"}
	})
	lines := strings.Split(out, "\n")
	if len(lines) != 3 {
		t.Fatalf("output: %q", out)
	}
	if f := strings.Fields(lines[0]); len(f) < 4 || f[2] != "tmpfs" || !strings.Contains(f[3], "size=1024k") {
		t.Errorf("/data mount: %q", lines[0])
	}
	if lines[1] != "750" {
		t.Errorf("/data mode %q, want 750", lines[1])
	}
	if lines[2] != "x" {
		t.Errorf("/data not writable: %q", out)
	}
}

func TestBindMounts(t *testing.T) {
	r := newRuntime(t)
	roDir, rwDir := hostDir(t), hostDir(t)
	if err := os.WriteFile(filepath.Join(roDir, "in"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := r.runContainer(func(s *specs.Spec) {
		addMount(s, bindMount(roDir, "/ro", "ro"))
		addMount(s, bindMount(rwDir, "/rw"))
		s.Process.Args = []string{"sh", "-c", "cat /ro/in; touch /ro/new && echo ro-writable; echo from container > /rw/out"}
	})
	if res.code != 0 {
		t.Fatalf("%v", res)
	}
	if strings.Contains(res.stdout, "ro-writable") {
		t.Errorf("a read-only bind mount was writable: %v", res)
	}
	if !strings.Contains(res.stdout, "from host") {
		t.Errorf("bind mount content not visible: %v", res)
	}
	if _, err := os.Stat(filepath.Join(roDir, "new")); err == nil {
		t.Errorf("file created through a read-only bind mount")
	}
	data, err := os.ReadFile(filepath.Join(rwDir, "out"))
	if err != nil || string(data) != "from container\n" {
		t.Errorf("host did not see the container's write: %q %v", data, err)
	}
}

func TestMaskedPaths(t *testing.T) {
	r := newRuntime(t)
	// Masked files of the default spec read empty, masked dirs list empty.
	// Only paths this kernel has prove anything (kcore is often compiled out).
	var script strings.Builder
	checked := 0
	for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"} {
		if _, err := os.Stat(p); err == nil {
			script.WriteString("echo " + p + " $(cat " + p + " | wc -c);")
			checked++
		}
	}
	for _, p := range []string{"/sys/firmware", "/proc/acpi", "/proc/scsi"} {
		if _, err := os.Stat(p); err == nil {
			script.WriteString("echo " + p + " $(ls " + p + " | wc -l);")
			checked++
		}
	}
	if checked == 0 {
		t.Skip("none of the masked paths exists on this kernel")
	}
	out := r.output(shell(script.String()))
	lines := strings.Split(out, "\n")
	if len(lines) != checked {
		t.Fatalf("output: %q", out)
	}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) != 2 || f[1] != "0" {
			t.Errorf("masked path has content: %q", l)
		}
	}
}

func TestReadonlyPaths(t *testing.T) {
	r := newRuntime(t)
	res := r.runContainer(shell("echo 1 > /proc/sys/net/ipv4/ip_forward"))
	if res.code == 0 {
		t.Fatalf("write to readonly /proc/sys succeeded: %v", res)
	}
	if !strings.Contains(res.stderr, "Read-only file system") {
		t.Errorf("write error: %v", res)
	}
	// Without the readonly path the same write works (in the container's own
	// netns, which needs CAP_NET_ADMIN).
	r.output(func(s *specs.Spec) {
		s.Linux.ReadonlyPaths = nil
		c := s.Process.Capabilities
		c.Bounding = append(c.Bounding, "CAP_NET_ADMIN")
		c.Effective = append(c.Effective, "CAP_NET_ADMIN")
		c.Permitted = append(c.Permitted, "CAP_NET_ADMIN")
		s.Process.Args = []string{"sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"}
	})
}

func TestDefaultDevices(t *testing.T) {
	r := newRuntime(t)
	// stat %t,%T prints major,minor in hex.
	want := map[string]string{
		"/dev/null":    "1,3",
		"/dev/zero":    "1,5",
		"/dev/full":    "1,7",
		"/dev/random":  "1,8",
		"/dev/urandom": "1,9",
		"/dev/tty":     "5,0",
	}
	var script strings.Builder
	for dev := range want {
		script.WriteString("echo " + dev + " $(stat -c '%t,%T %a %F' " + dev + ");")
	}
	script.WriteString("echo ptmx $(readlink /dev/ptmx);")
	script.WriteString("echo shm $(grep ' /dev/shm ' /proc/mounts | cut -d' ' -f3);")
	script.WriteString("head -c 4 /dev/zero | wc -c; echo discard > /dev/null && echo null-ok")
	out := r.output(shell(script.String()))
	got := map[string][]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 0 {
			got[f[0]] = f[1:]
		}
	}
	for dev, mm := range want {
		f := got[dev]
		if len(f) < 3 || f[0] != mm || f[1] != "666" || f[2] != "character" {
			t.Errorf("%s: %q, want character special file %s mode 666", dev, f, mm)
		}
	}
	if f := got["ptmx"]; len(f) != 1 || f[0] != "pts/ptmx" {
		t.Errorf("/dev/ptmx -> %q, want pts/ptmx", f)
	}
	if f := got["shm"]; len(f) != 1 || f[0] != "tmpfs" {
		t.Errorf("/dev/shm: %q, want a tmpfs", f)
	}
	if !strings.Contains(out, "\n4\n") || !strings.HasSuffix(out, "null-ok") {
		t.Errorf("devices not usable: %q", out)
	}
}

func TestCustomDevice(t *testing.T) {
	r := newRuntime(t)
	mode := os.FileMode(0o620)
	uid, gid := uint32(0), uint32(5)
	out := r.output(func(s *specs.Spec) {
		// A second /dev/null under another name.
		s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{
			Path: "/dev/it-null", Type: "c", Major: 1, Minor: 3, FileMode: &mode, UID: &uid, GID: &gid,
		})
		s.Process.Args = []string{"sh", "-c", "stat -c '%F %t,%T %a %u:%g' /dev/it-null; echo x > /dev/it-null && echo writable"}
	})
	if out != "character special file 1,3 620 0:5\nwritable" {
		t.Errorf("custom device: %q", out)
	}
}

func TestSysctl(t *testing.T) {
	r := newRuntime(t)
	hostBefore, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	out := r.output(func(s *specs.Spec) {
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		s.Process.Args = []string{"cat", "/proc/sys/net/ipv4/ip_forward"}
	})
	if out != "1" {
		t.Errorf("net.ipv4.ip_forward inside: %q", out)
	}
	// The sysctl applies to the container's netns, not the host's.
	if hostAfter, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(hostAfter) != string(hostBefore) {
		t.Errorf("host net.ipv4.ip_forward changed from %q to %q", hostBefore, hostAfter)
	}
}

// TestSymlinkEscape: a rootfs symlink pointing outside the rootfs must not
// redirect a mount onto the host (CVE-2021-30465 and friends). The runtime may
// refuse the config or resolve the symlink inside the rootfs; the host path
// must stay untouched either way.
func TestSymlinkEscape(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target func(hostDir string) string
	}{
		{"absolute", func(h string) string { return h }},
		{"relative", func(h string) string { return "../../../../../../../../../.." + h }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRuntime(t)
			host := t.TempDir() // the escape target: must stay empty
			bundle := newBundle(t, func(s *specs.Spec) {
				addMount(s, specs.Mount{Destination: "/evil/escaped", Type: "tmpfs", Source: "tmpfs"})
				s.Process.Args = []string{"true"}
			})
			if err := os.Symlink(tc.target(host), filepath.Join(bundle, "rootfs", "evil")); err != nil {
				t.Fatal(err)
			}
			res := r.run("run", "--bundle", bundle, newID(t))
			t.Logf("runtime exited %d (either refusing or containing the mount is fine)", res.code)
			if entries, _ := os.ReadDir(host); len(entries) != 0 {
				t.Errorf("the mount escaped the rootfs: %s now has %v", host, entries[0].Name())
			}
			if m := mountsMentioning(t, host); len(m) != 0 {
				t.Errorf("host mounts under the escape target: %v", m)
			}
		})
	}
}

func TestNoPivot(t *testing.T) {
	r := newRuntime(t)
	out := r.output(shell("echo pivot-ok; ls /"), "--no-pivot")
	if !strings.HasPrefix(out, "pivot-ok") || strings.Contains(out, "home") {
		t.Errorf("--no-pivot: %q", out)
	}
}
