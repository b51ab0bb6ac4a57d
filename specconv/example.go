package specconv

import (
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Example returns the starter spec that `rootlet spec` writes: the same as
// `runc spec` (runc >= 1.2, which no longer sets ambient capabilities).
// Like runc it adds a cgroup namespace only on a pure cgroup v2 host.
func Example() *specs.Spec {
	defaultCaps := func() []string {
		return []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	}
	spec := &specs.Spec{
		Version: specs.Version,
		Root: &specs.Root{
			Path:     "rootfs",
			Readonly: true,
		},
		Process: &specs.Process{
			Terminal: true,
			User:     specs.User{},
			Args:     []string{"sh"},
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"TERM=xterm",
			},
			Cwd:             "/",
			NoNewPrivileges: true,
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  defaultCaps(),
				Permitted: defaultCaps(),
				Effective: defaultCaps(),
			},
			Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
		},
		Hostname: "runc",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs",
				Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts",
				Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
				Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue",
				Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs",
				Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
				Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			MaskedPaths: []string{
				"/proc/acpi",
				"/proc/asound",
				"/proc/kcore",
				"/proc/keys",
				"/proc/latency_stats",
				"/proc/timer_list",
				"/proc/timer_stats",
				"/proc/sched_debug",
				"/sys/firmware",
				"/proc/scsi",
			},
			ReadonlyPaths: []string{
				"/proc/bus",
				"/proc/fs",
				"/proc/irq",
				"/proc/sys",
				"/proc/sysrq-trigger",
			},
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
			},
		},
	}
	if cgroup2Unified() {
		spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	return spec
}

// cgroup2Unified says whether /sys/fs/cgroup is a cgroup2 mount (not v1 or
// hybrid). On v1 a cgroup namespace hides little and runc leaves it out.
func cgroup2Unified() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// ToRootless turns a spec into one an unprivileged user can run, as
// `runc spec --rootless` does: a new user namespace mapping the current
// euid/egid to root, no network namespace (an unprivileged user cannot
// set up its networking), /sys bind-mounted (sysfs needs a network
// namespace owned by the user), no uid=/gid= mount options (those ids are
// not mapped), and no cgroup resources (the user cannot write them).
func ToRootless(spec *specs.Spec) {
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	var namespaces []specs.LinuxNamespace
	for _, ns := range spec.Linux.Namespaces {
		switch ns.Type {
		case specs.NetworkNamespace, specs.UserNamespace:
		default:
			namespaces = append(namespaces, ns)
		}
	}
	spec.Linux.Namespaces = append(namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})

	spec.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: uint32(os.Geteuid()), ContainerID: 0, Size: 1}}
	spec.Linux.GIDMappings = []specs.LinuxIDMapping{{HostID: uint32(os.Getegid()), ContainerID: 0, Size: 1}}

	mounts := make([]specs.Mount, 0, len(spec.Mounts))
	for _, m := range spec.Mounts {
		if filepath.Clean(m.Destination) == "/sys" {
			mounts = append(mounts, specs.Mount{
				Source:      "/sys",
				Destination: "/sys",
				Type:        "none",
				Options:     []string{"rbind", "nosuid", "noexec", "nodev", "ro"},
			})
			continue
		}
		var options []string
		for _, o := range m.Options {
			if !strings.HasPrefix(o, "gid=") && !strings.HasPrefix(o, "uid=") {
				options = append(options, o)
			}
		}
		m.Options = options
		mounts = append(mounts, m)
	}
	spec.Mounts = mounts

	spec.Linux.Resources = nil
}
