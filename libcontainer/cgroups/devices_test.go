package cgroups

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func dev(allow bool, typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	d := specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Access: access}
	if major != -1 {
		d.Major = ptr(major)
	}
	if minor != -1 {
		d.Minor = ptr(minor)
	}
	return d
}

// probeRules and probeWant are checked against both the v1 devices
// controller and the eBPF filter: the two must agree. (They differ where a
// deny cuts into a wider allow, e.g. "deny c 1:5 w" after "allow c 1:*":
// v1 only edits an exception with the same numbers, so it has no effect
// there, while the filter denies.)
var probeRules = []specs.LinuxDeviceCgroup{
	dev(false, "a", -1, -1, "rwm"),
	dev(true, "c", 1, 3, "rwm"),
	dev(true, "c", 1, 5, "r"), // zero: read only
	dev(true, "c", 1, 8, ""),
	dev(true, "c", 1, 9, "rwm"),
	dev(false, "c", 1, 9, "w"), // urandom: write taken away again
}

var probeWant = []string{
	"null r ok", "null w ok",
	"zero r ok", "zero w denied",
	"full r denied", "full w denied",
	"urandom r ok", "urandom w denied",
	"random r ok", "random w ok",
}

// probeScript opens each device for reading and for writing (opening is
// where the device cgroup decides) and prints one line per probe.
const probeScript = `
for d in null zero full urandom random; do
  if (exec 3</dev/$d) 2>/dev/null; then echo "$d r ok"; else echo "$d r denied"; fi
  if (exec 3>/dev/$d) 2>/dev/null; then echo "$d w ok"; else echo "$d w denied"; fi
done
echo end`

func runProbe(t *testing.T, apply func(pid int)) []string {
	t.Helper()
	c := startChild(t, probeScript)
	apply(c.pid())
	c.release(t)
	var got []string
	for {
		line := c.readLine(t)
		if line == "end" {
			return got
		}
		got = append(got, line)
	}
}

func TestNormalizeAndV1Writes(t *testing.T) {
	rules, err := normalizeDeviceRules([]specs.LinuxDeviceCgroup{
		dev(false, "", -1, -1, ""),
		dev(true, "c", 1, 3, "wr"),
		dev(true, "u", 4, -1, "m"),
		dev(true, "p", -1, -1, "rwm"), // fifo: dropped
		dev(true, "a", 10, 200, "rw"), // type a narrowed: one line per type
	})
	if err != nil {
		t.Fatal(err)
	}
	got := v1DeviceWrites(rules)
	want := []v1DeviceWrite{
		{"devices.deny", "a"},
		{"devices.allow", "c 1:3 rw"},
		{"devices.allow", "c 4:* m"},
		{"devices.allow", "c 10:200 rw"},
		{"devices.allow", "b 10:200 rw"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("v1 writes:\n got %v\nwant %v", got, want)
	}
	for _, bad := range []specs.LinuxDeviceCgroup{dev(true, "x", 1, 1, "r"), dev(true, "c", 1, 1, "rx")} {
		if _, err := normalizeDeviceRules([]specs.LinuxDeviceCgroup{bad}); err == nil {
			t.Errorf("rule %+v: want an error", bad)
		}
	}
}

func TestV1DeviceSemantics(t *testing.T) {
	requireRootV1(t)
	m := newV1(t)
	got := runProbe(t, func(pid int) {
		if err := m.Apply(pid); err != nil {
			t.Fatal(err)
		}
		if err := m.Set(&specs.LinuxResources{Devices: probeRules}); err != nil {
			t.Fatal(err)
		}
	})
	if !reflect.DeepEqual(got, probeWant) {
		t.Errorf("v1 device access:\n got %q\nwant %q", got, probeWant)
	}
}

func TestDeviceFilterShape(t *testing.T) {
	// Header (6 instructions), then per rule its checks + mov + exit.
	const header = 6
	allowAll, _ := normalizeDeviceRules([]specs.LinuxDeviceCgroup{dev(true, "a", -1, -1, "rwm")})
	if n := len(deviceFilter(allowAll)); n != header+2 {
		t.Errorf("allow-all program has %d instructions, want %d (no unreachable default deny)", n, header+2)
	}
	// Rules before a final match-everything rule are unreachable and
	// must not be emitted.
	shadowed, _ := normalizeDeviceRules([]specs.LinuxDeviceCgroup{
		dev(true, "c", 1, 3, "rwm"),
		dev(false, "a", -1, -1, "rwm"),
	})
	if n := len(deviceFilter(shadowed)); n != header+2 {
		t.Errorf("shadowed program has %d instructions, want %d", n, header+2)
	}
	// No rules: deny everything.
	insts := deviceFilter(nil)
	if len(insts) != header+2 || insts[header].Constant != 0 {
		t.Errorf("empty rule list program: %v", insts)
	}
}

func requireBPF(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loading BPF programs needs root")
	}
}

func TestDeviceFilterLoads(t *testing.T) {
	requireBPF(t)
	for name, rules := range map[string][]specs.LinuxDeviceCgroup{
		"empty":        nil,
		"probe":        probeRules,
		"defaults":     append([]specs.LinuxDeviceCgroup{dev(false, "a", -1, -1, "rwm")}, DefaultDeviceRules()...),
		"allow all":    {dev(true, "a", -1, -1, "rwm")},
		"shadowed":     {dev(true, "c", 1, 3, "r"), dev(true, "", -1, -1, "")},
		"block+access": {dev(true, "b", 8, -1, "r"), dev(false, "a", 8, 0, "w"), dev(true, "a", -1, -1, "m")},
	} {
		prog, err := loadDeviceFilter(rules)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		info, err := prog.Info()
		if err != nil || info.Type != ebpf.CGroupDevice {
			t.Errorf("%s: program info %v, %v", name, info, err)
		}
		prog.Close()
	}
}

// unifiedForTest returns a cgroup2 mount where BPF device programs can be
// attached: the hybrid host's unified tree, or /sys/fs/cgroup on v2.
func unifiedForTest(t *testing.T) string {
	t.Helper()
	requireBPF(t)
	switch Mode() {
	case "v2":
		return cgroupRoot
	case "hybrid":
		return unifiedMount
	}
	t.Skip("no cgroup2 hierarchy mounted")
	return ""
}

// newFS2 makes a v2 manager in mount. On a hybrid host Apply enables the
// unified tree's controllers (hugetlb) in the root; that is undone after.
func newFS2(t *testing.T, mount string) *fs2Manager {
	t.Helper()
	rootCtl, _ := readFile(mount, "cgroup.subtree_control")
	m := &fs2Manager{mount: mount, dir: filepath.Join(mount, testPath(t))}
	t.Cleanup(func() {
		if pids, _ := m.GetPids(); len(pids) > 0 {
			for _, p := range pids {
				unix.Kill(p, unix.SIGKILL)
			}
		}
		m.Freeze(false)
		if err := m.Destroy(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		os.Remove(filepath.Dir(m.dir))
		if mount != cgroupRoot {
			was := strings.Fields(rootCtl)
			now, _ := readFile(mount, "cgroup.subtree_control")
			for _, c := range strings.Fields(now) {
				if !contains(was, c) {
					writeFile(mount, "cgroup.subtree_control", "-"+c)
				}
			}
		}
	})
	return m
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func attachedDevicePrograms(t *testing.T, dir string) int {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	res, err := link.QueryPrograms(link.QueryOptions{Target: fd, Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Programs)
}

func TestDeviceFilterSemantics(t *testing.T) {
	mount := unifiedForTest(t)
	m := newFS2(t, mount)
	got := runProbe(t, func(pid int) {
		if err := m.Apply(pid); err != nil {
			t.Fatal(err)
		}
		// A first program, then an update that must replace it.
		if err := m.Set(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{dev(true, "a", -1, -1, "rwm")}}); err != nil {
			t.Fatal(err)
		}
		if err := m.Set(&specs.LinuxResources{Devices: probeRules}); err != nil {
			t.Fatal(err)
		}
		if n := attachedDevicePrograms(t, m.dir); n != 1 {
			t.Errorf("%d device programs attached after update, want 1", n)
		}
	})
	if !reflect.DeepEqual(got, probeWant) {
		t.Errorf("eBPF device access:\n got %q\nwant %q", got, probeWant)
	}
}

// Every jump in the program for the usual spec (deny all, then the
// defaults) lands on an instruction.
func TestDeviceFilterAllInstructionsReachable(t *testing.T) {
	rules, _ := normalizeDeviceRules(append([]specs.LinuxDeviceCgroup{dev(false, "a", -1, -1, "rwm")}, DefaultDeviceRules()...))
	insts := deviceFilter(rules)
	// Every jump must target a label that exists.
	labels := map[string]bool{}
	for _, ins := range insts {
		if s := ins.Symbol(); s != "" {
			labels[s] = true
		}
	}
	for _, ins := range insts {
		if ins.OpCode.JumpOp() != asm.InvalidJumpOp && ins.OpCode.JumpOp() != asm.Exit {
			if !labels[ins.Reference()] {
				t.Errorf("jump to missing label %q in %v", ins.Reference(), ins)
			}
		}
	}
}
