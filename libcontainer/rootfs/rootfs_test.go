package rootfs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The tests re-exec the test binary in new mount, pid and uts namespaces
// (envScenario names a JSON scenario file). The child runs Prepare,
// WriteSysctls, MountConsole and Finalize like the container init, then
// execs busybox sh with the scenario's script inside the new root; the
// parent asserts on the script's output and on the host filesystem.
const envScenario = "ROOTFS_TEST_SCENARIO"

type scenario struct {
	Rootfs   string
	NoPivot  bool
	InUserNS bool
	Spec     *specs.Spec
	// SharedHost: run in a mount namespace whose "/" is a peer of a shared
	// "/" in an outer namespace (like a systemd host), so that a slave "/"
	// has a master to show.
	SharedHost bool
	Sysctls    map[string]string
	Console    bool // open a pty in the container's devpts and MountConsole it
	Script     string
}

func TestMain(m *testing.M) {
	if path := os.Getenv(envScenario); path != "" {
		runScenario(path)
		return
	}
	os.Exit(m.Run())
}

func fail(stage string, err error) {
	fmt.Printf("ERROR %s: %v\n", stage, err)
	os.Exit(2)
}

func runScenario(path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("read", err)
	}
	var sc scenario
	if err := json.Unmarshal(data, &sc); err != nil {
		fail("read", err)
	}
	o := &Options{Spec: sc.Spec, Rootfs: sc.Rootfs, NoPivot: sc.NoPivot, InUserNS: sc.InUserNS}
	if err := Prepare(o, nil); err != nil {
		fail("prepare", err)
	}
	if sc.Console {
		ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
		if err != nil {
			fail("console", err)
		}
		if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
			fail("console", err)
		}
		n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
		if err != nil {
			fail("console", err)
		}
		if err := MountConsole(fmt.Sprintf("/dev/pts/%d", n)); err != nil {
			fail("console", err)
		}
	}
	if err := WriteSysctls(sc.Sysctls); err != nil {
		fail("sysctl", err)
	}
	if err := Finalize(o); err != nil {
		fail("finalize", err)
	}
	err = syscall.Exec("/bin/busybox", []string{"sh", "-c", sc.Script}, []string{"PATH=/bin"})
	fail("exec", err)
}

var applets = []string{"sh", "cat", "ls", "stat", "touch", "grep", "readlink", "wc", "echo", "mkdir", "test", "hostname"}

// busyboxRootfs builds a minimal image: /bin/busybox plus applet links.
func busyboxRootfs(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rootfs")
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("busybox-static not installed: %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range applets {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// baseSpec is close to `runc spec`: the usual mounts, masks and read-only paths.
func baseSpec() *specs.Spec {
	return &specs.Spec{
		Root: &specs.Root{Path: "rootfs"},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.PIDNamespace}, {Type: specs.UTSNamespace}},
		},
	}
}

type result struct {
	out  string
	vals map[string]string
	err  error
}

func runIn(t *testing.T, sc *scenario) result {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	data, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "scenario.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS}
	if sc.SharedHost {
		// The outer sh keeps the shared outer namespace alive while the
		// inner unshare runs the scenario in a namespace of peers.
		cmd = exec.Command("unshare", "-m", "--propagation", "shared", "--",
			"sh", "-c", `unshare -m -p -f -u --propagation unchanged "$0"`, os.Args[0])
	}
	cmd.Env = append(os.Environ(), envScenario+"="+path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	r := result{out: out.String(), vals: map[string]string{}, err: err}
	for _, line := range strings.Split(r.out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			r.vals[k] = v
		}
	}
	return r
}

func (r result) want(t *testing.T, key, val string) {
	t.Helper()
	if got, ok := r.vals[key]; !ok || got != val {
		t.Errorf("%s = %q, want %q\nfull output:\n%s", key, got, val, r.out)
	}
}

// mountinfoLine finds the mountinfo line for mount point mp in the script's
// "cat /proc/self/mountinfo" output.
func mountinfoLine(out, mp string) string {
	var found string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[4] == mp && strings.Contains(line, " - ") {
			found = line // the last one is the top mount
		}
	}
	return found
}

// probe prints key=yes when the shell command succeeds, key=no otherwise.
const probe = `p() { if eval "$2" >/dev/null 2>&1; then echo "$1=yes"; else echo "$1=no"; fi; }
`

func TestPrepareFull(t *testing.T) {
	root := busyboxRootfs(t)
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "in"), []byte("hello"), 0o644)
	hostFile := filepath.Join(t.TempDir(), "file")
	os.WriteFile(hostFile, []byte("single file"), 0o644)
	rw := t.TempDir()

	spec := baseSpec()
	spec.Root.Readonly = true
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/ro", Type: "bind", Source: host, Options: []string{"rbind", "ro", "nosuid"}},
		specs.Mount{Destination: "/deep/rw", Type: "bind", Source: rw, Options: []string{"bind"}},
		specs.Mount{Destination: "/etc/hostfile", Type: "none", Source: hostFile, Options: []string{"bind", "ro"}},
		specs.Mount{Destination: "/data", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "mode=0750", "noexec"}},
	)
	mode := os.FileMode(0o600)
	uid, gid := uint32(1000), uint32(1001)
	spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: &mode, UID: &uid, GID: &gid}}
	spec.Linux.MaskedPaths = []string{"/proc/version", "/sys/firmware", "/proc/does-not-exist"}
	spec.Linux.ReadonlyPaths = []string{"/proc/sys", "/proc/nope"}

	r := runIn(t, &scenario{
		Rootfs:  root,
		Spec:    spec,
		Sysctls: map[string]string{"kernel.domainname": "rootfs-test"},
		Console: true,
		Script: probe + `
p rootwrite 'touch /newfile'
p rowrite 'touch /ro/x'
p roread 'test "$(cat /ro/in)" = hello'
p rwwrite 'echo hi > /deep/rw/out'
p filebind 'test "$(cat /etc/hostfile)" = "single file"'
p datawrite 'echo x > /data/f'
echo datamode=$(stat -c %a /data)
echo version=$(cat /proc/version | wc -c)
echo firmware=$(ls /sys/firmware | wc -l)
p firmwarewrite 'mkdir /sys/firmware/x'
p procsyswrite 'echo other > /proc/sys/kernel/domainname'
echo domainname=$(cat /proc/sys/kernel/domainname)
for d in null zero full random urandom tty fuse console; do echo dev_$d=$(stat -c '%F %t:%T %a %u:%g' /dev/$d); done
for l in fd stdin stdout stderr ptmx; do echo link_$l=$(readlink /dev/$l); done
p cgroup 'test -d /sys/fs/cgroup/memory'
p cgroupwrite 'mkdir /sys/fs/cgroup/x'
echo pid=$$
cat /proc/self/mountinfo
`,
	})
	if r.err != nil {
		t.Fatalf("child failed: %v\n%s", r.err, r.out)
	}
	r.want(t, "rootwrite", "no")
	r.want(t, "rowrite", "no")
	r.want(t, "roread", "yes")
	r.want(t, "rwwrite", "yes")
	r.want(t, "filebind", "yes")
	r.want(t, "datawrite", "yes")
	r.want(t, "datamode", "750")
	r.want(t, "version", "0")
	r.want(t, "firmware", "0")
	r.want(t, "firmwarewrite", "no")
	r.want(t, "procsyswrite", "no")
	r.want(t, "domainname", "rootfs-test")
	r.want(t, "dev_null", "character special file 1:3 666 0:0")
	r.want(t, "dev_zero", "character special file 1:5 666 0:0")
	r.want(t, "dev_full", "character special file 1:7 666 0:0")
	r.want(t, "dev_random", "character special file 1:8 666 0:0")
	r.want(t, "dev_urandom", "character special file 1:9 666 0:0")
	r.want(t, "dev_tty", "character special file 5:0 666 0:0")
	r.want(t, "dev_fuse", "character special file a:e5 600 1000:1001")
	if !strings.HasPrefix(r.vals["dev_console"], "character special file 88:") {
		t.Errorf("/dev/console is not the pty slave: %q", r.vals["dev_console"])
	}
	r.want(t, "link_fd", "/proc/self/fd")
	r.want(t, "link_stdin", "/proc/self/fd/0")
	r.want(t, "link_stdout", "/proc/self/fd/1")
	r.want(t, "link_stderr", "/proc/self/fd/2")
	r.want(t, "link_ptmx", "pts/ptmx")
	r.want(t, "cgroup", "yes")
	r.want(t, "cgroupwrite", "no")
	r.want(t, "pid", "1")
	if b, err := os.ReadFile(filepath.Join(rw, "out")); err != nil || string(b) != "hi\n" {
		t.Errorf("write through rw bind not seen on host: %q %v", b, err)
	}
	for mp, want := range map[string][]string{
		"/":              {" ro,"},
		"/proc":          {" - proc "},
		"/dev":           {" - tmpfs ", "nosuid"},
		"/dev/pts":       {" - devpts ", "ptmxmode=666", "gid=5"},
		"/dev/mqueue":    {" - mqueue "},
		"/sys":           {" ro,", " - sysfs "},
		"/sys/fs/cgroup": {" ro,", " - tmpfs "},
		"/ro":            {" ro,nosuid"},
		"/data":          {"noexec", "size=1024k", "mode=750"},
		"/proc/sys":      {" ro,"},
		"/sys/firmware":  {" ro,", " - tmpfs "},
	} {
		line := mountinfoLine(r.out, mp)
		if line == "" {
			t.Errorf("no mount at %s in the container's mountinfo", mp)
			continue
		}
		for _, w := range want {
			if !strings.Contains(line, w) {
				t.Errorf("mount %s: %q does not contain %q", mp, line, w)
			}
		}
	}
}

func TestSymlinkEscape(t *testing.T) {
	root := busyboxRootfs(t)
	outside := t.TempDir()
	// Absolute and relative symlinks that leave the rootfs if followed on
	// the host. Inside the rootfs they resolve to paths that also exist
	// there, so the mounts must succeed and land inside.
	os.Symlink("/", filepath.Join(root, "mnt"))
	os.Symlink("../../../../../../../../.."+outside, filepath.Join(root, "up"))
	os.MkdirAll(filepath.Join(root, outside), 0o755)
	rel, _ := filepath.Rel(root, outside)
	os.Symlink(rel, filepath.Join(root, "rel"))
	relInside := filepath.Clean("/" + rel)
	os.MkdirAll(filepath.Join(root, relInside), 0o755)
	hostSrc := t.TempDir()
	os.WriteFile(filepath.Join(hostSrc, "marker"), []byte("m"), 0o644)
	name := "rootfs-escape-" + filepath.Base(outside)

	spec := baseSpec()
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/mnt/" + name, Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/up/x", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/rel/y", Type: "bind", Source: hostSrc, Options: []string{"bind"}},
	)
	r := runIn(t, &scenario{Rootfs: root, Spec: spec, Script: `
cat /proc/self/mountinfo
echo marker=$(cat ` + relInside + `/y/marker)
`})
	if r.err != nil {
		t.Fatalf("child failed: %v\n%s", r.err, r.out)
	}
	if _, err := os.Lstat("/" + name); err == nil {
		os.Remove("/" + name)
		t.Errorf("mount point created on the host at /%s", name)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("entries created outside the rootfs in %s: %v", outside, ents)
	}
	// The mounts landed where the symlinks point with the rootfs as "/".
	for _, mp := range []string{"/" + name, outside + "/x", relInside + "/y"} {
		if mountinfoLine(r.out, mp) == "" {
			t.Errorf("no mount at %s inside the container:\n%s", mp, r.out)
		}
	}
	r.want(t, "marker", "m")
}

// A symlink to a host directory that does not exist in the rootfs: the
// mount may fail, but nothing may be created or mounted on the host.
func TestDanglingSymlinkEscape(t *testing.T) {
	root := busyboxRootfs(t)
	outside := t.TempDir()
	os.Symlink(outside+"/sub", filepath.Join(root, "abs"))
	os.Symlink("../../../../../../../.."+outside, filepath.Join(root, "up"))
	spec := baseSpec()
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/abs/x", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/up/y", Type: "tmpfs", Source: "tmpfs"},
	)
	r := runIn(t, &scenario{Rootfs: root, Spec: spec, Script: "cat /proc/self/mountinfo"})
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("entries created outside the rootfs in %s: %v (child: %v\n%s)", outside, ents, r.err, r.out)
	}
	if r.err != nil && !strings.Contains(r.out, `error mounting "tmpfs" to rootfs at "/abs/x"`) {
		t.Errorf("unclear error: %s", r.out)
	}
}

func TestProcOverSymlinkFails(t *testing.T) {
	root := busyboxRootfs(t)
	os.Remove(filepath.Join(root, "proc"))
	os.Symlink("/etc", filepath.Join(root, "proc"))
	r := runIn(t, &scenario{Rootfs: root, Spec: baseSpec(), Script: "echo ran=yes"})
	if r.err == nil || !strings.Contains(r.out, `ERROR prepare: error mounting "proc" to rootfs at "/proc": filesystem "proc" must be mounted on ordinary directory`) {
		t.Fatalf("mounting proc over a symlink: err %v, output:\n%s", r.err, r.out)
	}
}

func TestMountInsideProcRefused(t *testing.T) {
	root := busyboxRootfs(t)
	spec := baseSpec()
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/proc/self", Type: "tmpfs", Source: "tmpfs"})
	r := runIn(t, &scenario{Rootfs: root, Spec: spec, Script: "echo ran=yes"})
	if r.err == nil || !strings.Contains(r.out, "cannot be mounted because it is inside /proc") {
		t.Fatalf("tmpfs over /proc/self: err %v, output:\n%s", r.err, r.out)
	}
}

// An image whose /dev/null is a regular file must not be used to "mask"
// paths (CVE-2025-31133).
func TestFakeDevNullRefused(t *testing.T) {
	root := busyboxRootfs(t)
	os.WriteFile(filepath.Join(root, "dev/null"), []byte("not a device"), 0o644)
	spec := baseSpec()
	spec.Mounts = spec.Mounts[:1] // only /proc: /dev comes from the image
	spec.Linux.MaskedPaths = []string{"/proc/version"}
	r := runIn(t, &scenario{Rootfs: root, Spec: spec, Script: "echo ran=yes"})
	if r.err == nil || !strings.Contains(r.out, "not the null device") {
		t.Fatalf("masking with a fake /dev/null: err %v, output:\n%s", r.err, r.out)
	}
}

func TestRootfsPropagation(t *testing.T) {
	for prop, tag := range map[string]string{
		"rshared":     "shared:",
		"rslave":      "master:",
		"":            "master:",
		"runbindable": "unbindable",
		"rprivate":    "",
	} {
		t.Run("prop="+prop, func(t *testing.T) {
			spec := baseSpec()
			spec.Linux.RootfsPropagation = prop
			r := runIn(t, &scenario{Rootfs: busyboxRootfs(t), Spec: spec, SharedHost: true, Script: "cat /proc/self/mountinfo"})
			if r.err != nil {
				t.Fatalf("child failed: %v\n%s", r.err, r.out)
			}
			line := mountinfoLine(r.out, "/")
			opt := strings.SplitN(line, " - ", 2)[0]
			fields := strings.Fields(opt)
			if len(fields) < 6 {
				t.Fatalf("no / in mountinfo:\n%s", r.out)
			}
			tags := strings.Join(fields[6:], " ")
			if tag == "" && tags != "" || tag != "" && !strings.Contains(tags, tag) {
				t.Errorf("rootfsPropagation %q: / has %q, want %q", prop, tags, tag)
			}
		})
	}
}

func TestNoPivot(t *testing.T) {
	root := busyboxRootfs(t)
	os.WriteFile(filepath.Join(root, "etc/marker"), []byte("inside"), 0o644)
	os.MkdirAll(filepath.Join(root, "etc/copyme"), 0o750)
	os.WriteFile(filepath.Join(root, "etc/copyme/a"), []byte("from image"), 0o640)
	spec := baseSpec()
	spec.Linux.MaskedPaths = []string{"/proc/version"}
	// A read-only /dev still gets its devices (made before the remount).
	spec.Mounts[1].Options = append(spec.Mounts[1].Options, "ro")
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/etc/copyme", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup", "mode=700"}})
	r := runIn(t, &scenario{Rootfs: root, Spec: spec, NoPivot: true, Script: probe + `
p devwrite 'touch /dev/newfile'
echo copyup=$(cat /etc/copyme/a)
echo copymode=$(stat -c %a /etc/copyme/a)
grep -q ' /etc/copyme tmpfs ' /proc/mounts && echo copytmpfs=yes
echo marker=$(cat /etc/marker)
echo version=$(cat /proc/version | wc -c)
p null 'echo x > /dev/null'
echo pid=$$
`})
	if r.err != nil {
		t.Fatalf("child failed: %v\n%s", r.err, r.out)
	}
	r.want(t, "marker", "inside")
	r.want(t, "devwrite", "no")
	r.want(t, "copyup", "from image")
	r.want(t, "copymode", "640")
	r.want(t, "copytmpfs", "yes")
	r.want(t, "version", "0")
	r.want(t, "null", "yes")
	r.want(t, "pid", "1")
}

// In a user namespace devices are host nodes bind-mounted onto files.
func TestDevicesBoundInUserNS(t *testing.T) {
	spec := baseSpec()
	r := runIn(t, &scenario{Rootfs: busyboxRootfs(t), Spec: spec, InUserNS: true, Script: `
echo dev_null=$(stat -c '%F %t:%T' /dev/null)
echo x > /dev/null && echo nullwrite=yes
cat /proc/self/mountinfo
`})
	if r.err != nil {
		t.Fatalf("child failed: %v\n%s", r.err, r.out)
	}
	r.want(t, "dev_null", "character special file 1:3")
	r.want(t, "nullwrite", "yes")
	if line := mountinfoLine(r.out, "/dev/null"); !strings.Contains(line, " - devtmpfs ") && !strings.Contains(line, " - tmpfs ") {
		t.Errorf("/dev/null is not a bind mount of the host's node: %q", line)
	}
}
