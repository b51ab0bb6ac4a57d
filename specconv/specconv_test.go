package specconv

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// newBundle makes a bundle directory with an empty rootfs/.
func newBundle(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func writeConfig(t testing.TB, bundle, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(bundle, ConfigFile), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		config  *string // nil: no config.json at all
		wantErr string  // exact error, or prefix ending in "..."
	}{
		{name: "missing", config: nil, wantErr: "JSON specification file config.json not found"},
		{name: "malformed", config: ptr(`{"ociVersion": "1.0.0",`), wantErr: "failed to parse config.json: ..."},
		{name: "wrong type", config: ptr(`{"process": {"args": "sh"}}`), wantErr: "failed to parse config.json: ..."},
		{name: "not an object", config: ptr(`[1,2]`), wantErr: "failed to parse config.json: ..."},
		{name: "null", config: ptr(`null`), wantErr: "config cannot be null"},
		{name: "ok", config: ptr(`{"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"}}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle := newBundle(t)
			if tt.config != nil {
				writeConfig(t, bundle, *tt.config)
			}
			spec, err := Load(bundle)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if spec.Version != "1.0.2" || spec.Process.Args[0] != "sh" || spec.Root.Path != "rootfs" {
					t.Fatalf("Load decoded %+v", spec)
				}
				return
			}
			checkErr(t, err, tt.wantErr)
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestLoadEmptyBundleIsCwd(t *testing.T) {
	bundle := newBundle(t)
	writeConfig(t, bundle, `{"ociVersion": "9.9.9"}`)
	t.Chdir(bundle)
	spec, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if spec.Version != "9.9.9" {
		t.Fatalf("got version %q", spec.Version)
	}
}

// checkErr compares an error with want: exact, or a prefix when want ends
// in "...".
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %q", want)
	}
	if prefix, ok := strings.CutSuffix(want, "..."); ok {
		if !strings.HasPrefix(err.Error(), prefix) {
			t.Fatalf("error %q does not start with %q", err, prefix)
		}
		return
	}
	if err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

func ptr[T any](v T) *T { return &v }

// validSpec is the smallest spec that passes Validate; each test case
// breaks one rule.
func validSpec() *specs.Spec {
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{Args: []string{"sh"}, Cwd: "/"},
		Root:    &specs.Root{Path: "rootfs"},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.NetworkNamespace},
			},
		},
	}
}

// withNamespaces replaces the namespace list.
func withNamespaces(s *specs.Spec, types ...specs.LinuxNamespaceType) {
	s.Linux.Namespaces = nil
	for _, t := range types {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: t})
	}
}

func withUserNS(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(s *specs.Spec, bundle string)
		wantErr string // "" for valid; exact, or prefix ending in "..."
	}{
		{name: "minimal valid", mutate: func(*specs.Spec, string) {}},

		// top level and process
		{"no ociVersion", func(s *specs.Spec, _ string) { s.Version = "" }, "ociVersion must be specified"},
		{"no process", func(s *specs.Spec, _ string) { s.Process = nil }, "process property must not be empty"},
		{"no args", func(s *specs.Spec, _ string) { s.Process.Args = nil }, "args must not be empty"},
		{"empty cwd", func(s *specs.Spec, _ string) { s.Process.Cwd = "" }, "Cwd property must not be empty"},
		{"relative cwd", func(s *specs.Spec, _ string) { s.Process.Cwd = "home" }, "Cwd must be an absolute path"},
		{"bad rlimit", func(s *specs.Spec, _ string) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_FOO", Soft: 1, Hard: 1}}
		}, "wrong rlimit value: RLIMIT_FOO"},
		{"rlimit soft above hard", func(s *specs.Spec, _ string) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 2048, Hard: 1024}}
		}, "rlimit RLIMIT_NOFILE: soft limit 2048 is greater than hard limit 1024"},
		{"good rlimits", func(s *specs.Spec, _ string) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 4096}, {Type: "RLIMIT_RTTIME"}}
		}, ""},
		{"unknown bounding cap", func(s *specs.Spec, _ string) {
			s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL", "CAP_FOO"}}
		}, `unknown capability "CAP_FOO"`},
		{"unknown ambient cap", func(s *specs.Spec, _ string) {
			s.Process.Capabilities = &specs.LinuxCapabilities{Ambient: []string{"kill"}}
		}, `unknown capability "kill"`},
		{"known caps", func(s *specs.Spec, _ string) {
			all := KnownCapabilities()
			s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all, Inheritable: all, Ambient: all}
		}, ""},
		{"scheduler without policy", func(s *specs.Spec, _ string) { s.Process.Scheduler = &specs.Scheduler{} }, "scheduler policy is required"},
		{"scheduler bad policy", func(s *specs.Spec, _ string) {
			s.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_FOO"}
		}, `invalid scheduler policy "SCHED_FOO"`},
		{"scheduler nice", func(s *specs.Spec, _ string) {
			s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedOther, Nice: 20}
		}, "invalid scheduler.nice: 20 when scheduler.policy is SCHED_OTHER"},
		{"scheduler priority", func(s *specs.Spec, _ string) {
			s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch, Priority: 3}
		}, "scheduler.priority can only be specified for SchedFIFO or SchedRR policy"},
		{"scheduler deadline fields", func(s *specs.Spec, _ string) {
			s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedFIFO, Runtime: 5}
		}, "scheduler runtime/deadline/period can only be specified for SchedDeadline policy"},
		{"ioprio value", func(s *specs.Spec, _ string) {
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 8}
		}, "invalid ioPriority.Priority: 8"},
		{"ioprio class", func(s *specs.Spec, _ string) {
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: "IOPRIO_CLASS_FOO"}
		}, `invalid ioPriority.Class: "IOPRIO_CLASS_FOO"`},

		// root
		{"no root", func(s *specs.Spec, _ string) { s.Root = nil }, "root must be specified"},
		{"no root path", func(s *specs.Spec, _ string) { s.Root.Path = "" }, "root.path must be specified"},
		{"rootfs missing", func(s *specs.Spec, _ string) { s.Root.Path = "nothere" }, "rootfs (BUNDLE/nothere) does not exist"},
		{"rootfs is a file", func(s *specs.Spec, b string) {
			mustWrite(b, "file", "")
			s.Root.Path = "file"
		}, "rootfs (BUNDLE/file) is not a directory"},
		{"absolute rootfs", func(s *specs.Spec, b string) { s.Root.Path = filepath.Join(b, "rootfs") }, ""},

		// namespaces
		{"no linux", func(s *specs.Spec, _ string) { s.Linux = nil }, "linux must be specified"},
		{"unknown namespace", func(s *specs.Spec, _ string) { withNamespaces(s, specs.PIDNamespace, "foo") }, `namespace "foo" does not exist`},
		{"duplicate namespace", func(s *specs.Spec, _ string) {
			withNamespaces(s, specs.PIDNamespace, specs.MountNamespace, specs.PIDNamespace)
		}, `malformed spec file: duplicated ns "pid"`},
		{"relative namespace path", func(s *specs.Spec, _ string) {
			s.Linux.Namespaces[4].Path = "proc/1/ns/net"
		}, `namespace path "proc/1/ns/net" for network namespace must be absolute`},
		{"missing namespace path", func(s *specs.Spec, _ string) {
			s.Linux.Namespaces[0].Path = "/nonexistent/ns/pid"
		}, "pid namespace path: stat /nonexistent/ns/pid: no such file or directory"},
		{"joined namespace path", func(s *specs.Spec, _ string) { s.Linux.Namespaces[4].Path = "/proc/self/ns/net" }, ""},

		// user namespace and id mappings
		{"user namespace", func(s *specs.Spec, _ string) { withUserNS(s) }, ""},
		{"mappings without user namespace", func(s *specs.Spec, _ string) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
		}, "user namespace mappings specified, but user namespace isn't enabled in the config"},
		{"user namespace without mappings", func(s *specs.Spec, _ string) {
			withUserNS(s)
			s.Linux.UIDMappings, s.Linux.GIDMappings = nil, nil
		}, "user namespaces enabled, but no namespace path to join nor mappings to apply specified"},
		{"user namespace without gid mappings", func(s *specs.Spec, _ string) {
			withUserNS(s)
			s.Linux.GIDMappings = nil
		}, "user namespaces enabled, but no gid mappings found"},
		{"root not mapped", func(s *specs.Spec, _ string) {
			withUserNS(s)
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 1, HostID: 1000, Size: 10}}
		}, "user namespaces enabled, but no mapping found for uid 0"},
		{"empty mapping", func(s *specs.Spec, _ string) {
			withUserNS(s)
			s.Linux.GIDMappings = append(s.Linux.GIDMappings, specs.LinuxIDMapping{ContainerID: 70000, HostID: 5})
		}, "invalid gid mapping 70000:5:0: size must not be zero"},
		{"joined user namespace", func(s *specs.Spec, _ string) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: "/proc/self/ns/user"})
		}, ""},

		// time namespace
		{"time offsets without time namespace", func(s *specs.Spec, _ string) {
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 10}}
		}, "time namespace offsets specified, but time namespace isn't enabled in the config"},
		{"time offsets", func(s *specs.Spec, _ string) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 10}, "boottime": {Nanosecs: 1}}
		}, ""},
		{"time offsets unknown clock", func(s *specs.Spec, _ string) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"realtime": {Secs: 10}}
		}, `unknown time namespace clock "realtime"`},
		{"time path and offsets", func(s *specs.Spec, _ string) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace, Path: "/proc/self/ns/time"})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 10}}
		}, "time namespace enabled, but both namespace path and time offsets specified -- you may only provide one"},

		// uts, masked paths
		{"hostname without uts", func(s *specs.Spec, _ string) {
			withNamespaces(s, specs.PIDNamespace, specs.MountNamespace)
			s.Hostname = "box"
		}, "unable to set hostname without a private UTS namespace"},
		{"domainname without uts", func(s *specs.Spec, _ string) {
			withNamespaces(s, specs.PIDNamespace, specs.MountNamespace)
			s.Domainname = "example.org"
		}, "unable to set domainname without a private UTS namespace"},
		{"hostname with uts", func(s *specs.Spec, _ string) { s.Hostname = "box"; s.Domainname = "example.org" }, ""},
		{"masked paths without mount namespace", func(s *specs.Spec, _ string) {
			withNamespaces(s, specs.PIDNamespace)
			s.Linux.MaskedPaths = []string{"/proc/kcore"}
		}, "unable to restrict sys entries without a private MNT namespace"},
		{"readonly paths without mount namespace", func(s *specs.Spec, _ string) {
			withNamespaces(s, specs.PIDNamespace)
			s.Linux.ReadonlyPaths = []string{"/proc/sys"}
		}, "unable to restrict sys entries without a private MNT namespace"},

		// sysctls
		{"namespaced sysctls", func(s *specs.Spec, _ string) {
			s.Linux.Sysctl = map[string]string{
				"net.ipv4.ip_forward": "1", "net/ipv4/conf/eth0.100/rp_filter": "0",
				"kernel.shmmax": "1", "kernel.sem": "1 2 3 4", "fs.mqueue.msg_max": "10", "kernel.domainname": "x",
			}
		}, ""},
		{"net sysctl without netns", func(s *specs.Spec, _ string) {
			withNamespaces(s, specs.PIDNamespace, specs.MountNamespace)
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, `sysctl "net.ipv4.ip_forward" not allowed in host network namespace`},
		{"net sysctl slash form without netns", func(s *specs.Spec, _ string) {
			withNamespaces(s, specs.PIDNamespace)
			s.Linux.Sysctl = map[string]string{"net/ipv4/conf/eno2.100/rp_filter": "1"}
		}, `sysctl "net.ipv4.conf.eno2/100.rp_filter" not allowed in host network namespace`},
		{"net sysctl in joined host netns", func(s *specs.Spec, _ string) {
			s.Linux.Namespaces[4].Path = "/proc/self/ns/net"
			s.Linux.Sysctl = map[string]string{"net.core.somaxconn": "1024"}
		}, `sysctl "net.core.somaxconn" not allowed in host network namespace`},
		{"ipc sysctl without ipc ns", func(s *specs.Spec, _ string) {
			withNamespaces(s, specs.PIDNamespace, specs.NetworkNamespace)
			s.Linux.Sysctl = map[string]string{"kernel.msgmax": "8192"}
		}, `sysctl "kernel.msgmax" is not allowed in the hosts ipc namespace`},
		{"mqueue sysctl without ipc ns", func(s *specs.Spec, _ string) {
			withNamespaces(s, specs.PIDNamespace)
			s.Linux.Sysctl = map[string]string{"fs.mqueue.queues_max": "8"}
		}, `sysctl "fs.mqueue.queues_max" is not allowed in the hosts ipc namespace`},
		{"kernel.hostname with uts", func(s *specs.Spec, _ string) {
			s.Linux.Sysctl = map[string]string{"kernel.hostname": "box"}
		}, `sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field`},
		{"kernel.hostname without uts", func(s *specs.Spec, _ string) {
			withNamespaces(s, specs.PIDNamespace)
			s.Linux.Sysctl = map[string]string{"kernel.hostname": "box"}
		}, `sysctl "kernel.hostname" is not in a separate kernel namespace`},
		{"user sysctl without userns", func(s *specs.Spec, _ string) {
			s.Linux.Sysctl = map[string]string{"user.max_user_namespaces": "0"}
		}, "setting ucounts without a user namespace not allowed: user.max_user_namespaces"},
		{"user sysctl with userns", func(s *specs.Spec, _ string) {
			withUserNS(s)
			s.Linux.Sysctl = map[string]string{"user.max_user_namespaces": "0"}
		}, ""},
		{"global sysctl", func(s *specs.Spec, _ string) {
			s.Linux.Sysctl = map[string]string{"vm.swappiness": "0"}
		}, `sysctl "vm.swappiness" is not in a separate kernel namespace`},

		// mounts
		{"relative mount destination", func(s *specs.Spec, _ string) {
			s.Mounts = []specs.Mount{{Destination: "tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=1777"}}}
		}, ""},
		{"empty mount destination", func(s *specs.Spec, _ string) {
			s.Mounts = []specs.Mount{{Type: "tmpfs", Source: "tmpfs"}}
		}, `invalid mount "": destination must not be empty`},
		{"null byte in mount", func(s *specs.Spec, _ string) {
			s.Mounts = []specs.Mount{{Destination: "/mnt", Type: "bind", Source: "/tmp\x00/x", Options: []string{"bind"}}}
		}, `invalid mount "/mnt": mount field contains null byte`},
		{"bind mount with data options", func(s *specs.Spec, _ string) {
			s.Mounts = []specs.Mount{{Destination: "/mnt", Type: "none", Source: "/tmp", Options: []string{"rbind", "ro", "mode=755"}}}
		}, `invalid mount "/mnt": bind mounts cannot have any filesystem-specific options applied (mode=755)`},
		{"bind mount with flags", func(s *specs.Spec, _ string) {
			s.Mounts = []specs.Mount{{Destination: "/mnt", Type: "bind", Source: "/tmp",
				Options: []string{"rbind", "ro", "nosuid", "rprivate", "rnoexec", "tmpcopyup"}}}
		}, ""},
		{"idmap on a non-bind mount", func(s *specs.Spec, _ string) {
			s.Mounts = []specs.Mount{{Destination: "/mnt", Type: "tmpfs", Source: "tmpfs", Options: []string{"idmap"}}}
		}, `invalid mount "/mnt": id-mapped mounts are only supported for bind-mounts`},
		{"idmap with only uid mappings", func(s *specs.Spec, _ string) {
			s.Mounts = []specs.Mount{{Destination: "/mnt", Source: "/tmp", Options: []string{"bind"},
				UIDMappings: []specs.LinuxIDMapping{{Size: 1}}}}
		}, `invalid mount "/mnt": id-mapped mounts must have both uid and gid mappings specified`},

		// other linux fields
		{"bad rootfs propagation", func(s *specs.Spec, _ string) { s.Linux.RootfsPropagation = "sideways" }, "rootfsPropagation=sideways is not supported"},
		{"rootfs propagation", func(s *specs.Spec, _ string) { s.Linux.RootfsPropagation = "rslave" }, ""},
		{"bad device type", func(s *specs.Spec, _ string) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "x", Major: 10, Minor: 229}}
		}, `invalid device type "x"`},
		{"relative device path", func(s *specs.Spec, _ string) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "dev/fuse", Type: "c", Major: 10, Minor: 229}}
		}, `device path "dev/fuse" must be absolute`},
		{"bad cgroup device type", func(s *specs.Spec, _ string) {
			s.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "p", Access: "rwm"}}}
		}, `invalid cgroup device type "p"`},
		{"bad personality", func(s *specs.Spec, _ string) {
			s.Linux.Personality = &specs.LinuxPersonality{Domain: "LINUX64"}
		}, "invalid personality domain LINUX64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle := newBundle(t)
			spec := validSpec()
			tt.mutate(spec, bundle)
			err := Validate(spec, bundle)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			checkErr(t, err, strings.ReplaceAll(tt.wantErr, "BUNDLE", bundle))
		})
	}
}

func mustWrite(dir, name, content string) {
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		panic(err)
	}
}

func TestValidID(t *testing.T) {
	for _, id := range []string{"a", "abc-123", "A_b+c.d", "...", "a..b", "-x", strings.Repeat("x", 200)} {
		if err := ValidID(id); err != nil {
			t.Errorf("ValidID(%q): %v", id, err)
		}
	}
	for _, id := range []string{".", "..", "a/b", "../x", "a b", "a,b", "a:b", "é", "a\x00"} {
		err := ValidID(id)
		if err == nil {
			t.Errorf("ValidID(%q) accepted", id)
			continue
		}
		if !errors.Is(err, ErrInvalidID) || err.Error() != "invalid container ID format: "+id {
			t.Errorf("ValidID(%q) = %q", id, err)
		}
	}
	if err := ValidID(""); err == nil || err.Error() != "container id cannot be empty" {
		t.Errorf("ValidID(\"\") = %v", err)
	}
}

func TestResolveRootfs(t *testing.T) {
	bundle := newBundle(t)
	real := filepath.Join(bundle, "rootfs")
	if err := os.Symlink("rootfs", filepath.Join(bundle, "link")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		root    string
		bundle  string
		want    string
		wantErr string
	}{
		{root: "rootfs", bundle: bundle, want: real},
		{root: "link", bundle: bundle, want: real},
		{root: filepath.Join(bundle, "link"), bundle: "/elsewhere", want: real},
		{root: "link/../rootfs", bundle: bundle, want: real},
		{root: "rootfs", bundle: ".", want: real}, // relative bundle, run from the bundle
		{root: "missing", bundle: bundle, wantErr: "rootfs (" + filepath.Join(bundle, "missing") + ") does not exist"},
	}
	t.Chdir(bundle)
	for _, tt := range tests {
		got, err := ResolveRootfs(&specs.Spec{Root: &specs.Root{Path: tt.root}}, tt.bundle)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ResolveRootfs(%q, %q) error %v, want %q", tt.root, tt.bundle, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ResolveRootfs(%q, %q) = %q, %v; want %q", tt.root, tt.bundle, got, err, tt.want)
		}
	}
	if _, err := ResolveRootfs(&specs.Spec{}, bundle); err == nil {
		t.Error("ResolveRootfs without root: no error")
	}
}

func TestExample(t *testing.T) {
	s := Example()
	if s.Version != specs.Version {
		t.Errorf("ociVersion %q", s.Version)
	}
	p := s.Process
	if !p.Terminal || strings.Join(p.Args, " ") != "sh" || p.Cwd != "/" || !p.NoNewPrivileges {
		t.Errorf("process %+v", p)
	}
	wantCaps := "CAP_AUDIT_WRITE CAP_KILL CAP_NET_BIND_SERVICE"
	c := p.Capabilities
	for name, set := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted} {
		if strings.Join(set, " ") != wantCaps {
			t.Errorf("%s caps %v", name, set)
		}
	}
	if len(c.Ambient) != 0 || len(c.Inheritable) != 0 {
		t.Errorf("ambient %v inheritable %v, want none", c.Ambient, c.Inheritable)
	}
	if len(p.Rlimits) != 1 || p.Rlimits[0] != (specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}) {
		t.Errorf("rlimits %+v", p.Rlimits)
	}
	if s.Root.Path != "rootfs" || !s.Root.Readonly {
		t.Errorf("root %+v", s.Root)
	}
	var mounts []string
	for _, m := range s.Mounts {
		mounts = append(mounts, m.Destination+":"+m.Type)
	}
	if got := strings.Join(mounts, " "); got != "/proc:proc /dev:tmpfs /dev/pts:devpts /dev/shm:tmpfs /dev/mqueue:mqueue /sys:sysfs /sys/fs/cgroup:cgroup" {
		t.Errorf("mounts %s", got)
	}
	if len(s.Linux.MaskedPaths) != 10 || s.Linux.MaskedPaths[9] != "/proc/scsi" {
		t.Errorf("maskedPaths %v", s.Linux.MaskedPaths)
	}
	if strings.Join(s.Linux.ReadonlyPaths, " ") != "/proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger" {
		t.Errorf("readonlyPaths %v", s.Linux.ReadonlyPaths)
	}
	var ns []string
	for _, n := range s.Linux.Namespaces {
		ns = append(ns, string(n.Type))
	}
	want := "pid network ipc uts mount"
	if cgroup2Unified() {
		want += " cgroup"
	}
	if got := strings.Join(ns, " "); got != want {
		t.Errorf("namespaces %q, want %q", got, want)
	}
	if r := s.Linux.Resources; r == nil || len(r.Devices) != 1 || r.Devices[0].Allow || r.Devices[0].Access != "rwm" {
		t.Errorf("resources %+v", r)
	}
	// Each call builds a fresh spec: callers may change it.
	s.Process.Capabilities.Bounding[0] = "CHANGED"
	if Example().Process.Capabilities.Bounding[0] != "CAP_AUDIT_WRITE" {
		t.Error("Example shares state between calls")
	}
}

// The generated specs must pass our own validation, through a file round trip.
func TestExampleValidates(t *testing.T) {
	for name, spec := range map[string]*specs.Spec{"default": Example(), "rootless": rootless(Example())} {
		t.Run(name, func(t *testing.T) {
			bundle := newBundle(t)
			data, err := json.MarshalIndent(spec, "", "\t")
			if err != nil {
				t.Fatal(err)
			}
			writeConfig(t, bundle, string(data))
			loaded, err := Load(bundle)
			if err != nil {
				t.Fatal(err)
			}
			if err := Validate(loaded, bundle); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func rootless(s *specs.Spec) *specs.Spec {
	ToRootless(s)
	return s
}

func TestToRootless(t *testing.T) {
	s := Example()
	// A user namespace already in the list must not be doubled.
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "tmpfs", Source: "tmpfs", Options: []string{"uid=5", "mode=700"}})
	ToRootless(s)

	var ns []string
	for _, n := range s.Linux.Namespaces {
		ns = append(ns, string(n.Type))
	}
	want := "pid ipc uts mount"
	if cgroup2Unified() {
		want += " cgroup"
	}
	if got := strings.Join(ns, " "); got != want+" user" {
		t.Errorf("namespaces %q, want %q", got, want+" user")
	}
	wantUID := []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Geteuid()), Size: 1}}
	wantGID := []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Getegid()), Size: 1}}
	if len(s.Linux.UIDMappings) != 1 || s.Linux.UIDMappings[0] != wantUID[0] ||
		len(s.Linux.GIDMappings) != 1 || s.Linux.GIDMappings[0] != wantGID[0] {
		t.Errorf("mappings uid %+v gid %+v", s.Linux.UIDMappings, s.Linux.GIDMappings)
	}
	if s.Linux.Resources != nil {
		t.Errorf("resources kept: %+v", s.Linux.Resources)
	}
	byDest := map[string]specs.Mount{}
	for _, m := range s.Mounts {
		byDest[m.Destination] = m
	}
	sys := byDest["/sys"]
	if sys.Type != "none" || sys.Source != "/sys" || strings.Join(sys.Options, ",") != "rbind,nosuid,noexec,nodev,ro" {
		t.Errorf("/sys mount %+v", sys)
	}
	if got := strings.Join(byDest["/dev/pts"].Options, ","); got != "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620" {
		t.Errorf("/dev/pts options %s", got)
	}
	if got := strings.Join(byDest["/data"].Options, ","); got != "mode=700" {
		t.Errorf("/data options %s", got)
	}
	// runc keeps /sys/fs/cgroup: the rootfs code bind-mounts it when a
	// fresh cgroup mount is not allowed.
	if _, ok := byDest["/sys/fs/cgroup"]; !ok {
		t.Error("cgroup mount dropped")
	}
}

func TestKnownLists(t *testing.T) {
	ns := strings.Join(KnownNamespaces(), " ")
	if ns != "cgroup ipc mount network pid time user uts" {
		t.Errorf("KnownNamespaces %q", ns)
	}
	caps := KnownCapabilities()
	if len(caps) < 41 || caps[0] != "CAP_CHOWN" {
		t.Errorf("KnownCapabilities %v", caps)
	}
	if c, ok := Capability("CAP_SYS_ADMIN"); !ok || c != 21 {
		t.Errorf("Capability(CAP_SYS_ADMIN) = %d, %v", c, ok)
	}
	opts := KnownMountOptions()
	for _, o := range []string{"rbind", "rprivate", "rro", "tmpcopyup", "nosymfollow"} {
		if !contains(opts, o) {
			t.Errorf("KnownMountOptions lacks %q", o)
		}
	}
	if contains(opts, "mode=755") || contains(opts, "idmap") {
		t.Errorf("KnownMountOptions has data options: %v", opts)
	}
	if r, err := RlimitResource("RLIMIT_NOFILE"); err != nil || r != 7 {
		t.Errorf("RlimitResource(RLIMIT_NOFILE) = %d, %v", r, err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// FuzzLoadValidate feeds arbitrary bytes as config.json: Load and Validate
// must return errors, never panic.
func FuzzLoadValidate(f *testing.F) {
	example, _ := json.Marshal(Example())
	f.Add(example)
	rl, _ := json.Marshal(rootless(Example()))
	f.Add(rl)
	for _, seed := range []string{
		`null`, `{}`, `[]`, `"x"`, `{"ociVersion":"1"}`,
		`{"ociVersion":"1","process":{"args":["sh"],"cwd":"/"},"root":{"path":"rootfs"},"linux":{}}`,
		`{"ociVersion":"1","process":{"args":["sh"],"cwd":"/","capabilities":{}},"root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"user"}],"sysctl":{"net/a.b":"1"}}}`,
		`{"ociVersion":"1","process":{"args":["sh"],"cwd":"/","scheduler":{}},"root":{"path":"rootfs"},"linux":{"personality":{},"resources":{}}}`,
		`{"ociVersion":"1","process":{"args":["sh"],"cwd":"/"},"root":{"path":"rootfs"},"mounts":[{"destination":"x","options":["bind","x=y"]}],"linux":{"timeOffsets":{}}}`,
	} {
		f.Add([]byte(seed))
	}
	// One bundle per fuzzing process: a fresh temp dir per input would be
	// most of the cost. Inputs run one at a time within a process.
	bundle := newBundle(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(bundle, ConfigFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		spec, err := Load(bundle)
		if err != nil {
			return
		}
		if err := Validate(spec, bundle); err == nil {
			// A valid spec must also resolve its rootfs.
			if _, err := ResolveRootfs(spec, bundle); err != nil {
				t.Fatalf("valid spec, but ResolveRootfs: %v", err)
			}
		}
	})
}
