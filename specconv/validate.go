package specconv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Validate checks a loaded spec before anything is created, so that a bad
// config fails with one clear line instead of deep inside the container
// init. bundle ("" means the current directory) anchors a relative
// root.path. The rules and most messages are runc's (its loadSpec,
// specconv and configs/validate); the first broken rule is returned.
func Validate(spec *specs.Spec, bundle string) error {
	if spec == nil {
		return errors.New("config cannot be null")
	}
	if spec.Version == "" {
		return errors.New("ociVersion must be specified")
	}
	if err := ValidateProcess(spec.Process); err != nil {
		return err
	}
	if err := validateRoot(spec, bundle); err != nil {
		return err
	}
	if spec.Linux == nil {
		return errors.New("linux must be specified")
	}
	ns, err := namespaceSet(spec.Linux.Namespaces)
	if err != nil {
		return err
	}
	checks := []func(*specs.Spec, namespaces) error{
		validateUserNamespace,
		validateCgroupNamespace,
		validateTimeNamespace,
		validateUTS,
		validateRestrictedPaths,
		validateSysctl,
		validateMounts,
		validateLinuxMisc,
	}
	for _, check := range checks {
		if err := check(spec, ns); err != nil {
			return err
		}
	}
	return nil
}

// ValidateProcess checks the process part of a spec; `exec --process` uses
// it on its own process.json too.
func ValidateProcess(p *specs.Process) error {
	if p == nil {
		return errors.New("process property must not be empty")
	}
	if p.Cwd == "" {
		return errors.New("Cwd property must not be empty")
	}
	if !filepath.IsAbs(p.Cwd) {
		return errors.New("Cwd must be an absolute path")
	}
	if len(p.Args) == 0 {
		return errors.New("args must not be empty")
	}
	for _, rl := range p.Rlimits {
		if _, ok := rlimitTypes[rl.Type]; !ok {
			return fmt.Errorf("wrong rlimit value: %s", rl.Type)
		}
		// setrlimit would fail with a bare EINVAL inside the container.
		if rl.Soft > rl.Hard {
			return fmt.Errorf("rlimit %s: soft limit %d is greater than hard limit %d", rl.Type, rl.Soft, rl.Hard)
		}
	}
	if c := p.Capabilities; c != nil {
		for _, set := range [][]string{c.Bounding, c.Effective, c.Inheritable, c.Permitted, c.Ambient} {
			for _, name := range set {
				if _, ok := capabilityNames[name]; !ok {
					return fmt.Errorf("unknown capability %q", name)
				}
			}
		}
	}
	if err := validateScheduler(p.Scheduler); err != nil {
		return err
	}
	return validateIOPriority(p.IOPriority)
}

// rlimitTypes are the rlimit names the kernel knows, with their resource ids.
var rlimitTypes = map[string]int{
	"RLIMIT_CPU":        unix.RLIMIT_CPU,
	"RLIMIT_FSIZE":      unix.RLIMIT_FSIZE,
	"RLIMIT_DATA":       unix.RLIMIT_DATA,
	"RLIMIT_STACK":      unix.RLIMIT_STACK,
	"RLIMIT_CORE":       unix.RLIMIT_CORE,
	"RLIMIT_RSS":        unix.RLIMIT_RSS,
	"RLIMIT_NPROC":      unix.RLIMIT_NPROC,
	"RLIMIT_NOFILE":     unix.RLIMIT_NOFILE,
	"RLIMIT_MEMLOCK":    unix.RLIMIT_MEMLOCK,
	"RLIMIT_AS":         unix.RLIMIT_AS,
	"RLIMIT_LOCKS":      unix.RLIMIT_LOCKS,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_MSGQUEUE":   unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       unix.RLIMIT_NICE,
	"RLIMIT_RTPRIO":     unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     unix.RLIMIT_RTTIME,
}

// RlimitResource returns the resource id for an rlimit name such as
// "RLIMIT_NOFILE".
func RlimitResource(name string) (int, error) {
	r, ok := rlimitTypes[name]
	if !ok {
		return 0, fmt.Errorf("wrong rlimit value: %s", name)
	}
	return r, nil
}

func validateScheduler(s *specs.Scheduler) error {
	if s == nil {
		return nil
	}
	switch s.Policy {
	case "":
		return errors.New("scheduler policy is required")
	case specs.SchedOther, specs.SchedBatch, specs.SchedIdle, specs.SchedFIFO, specs.SchedRR, specs.SchedDeadline:
	default:
		return fmt.Errorf("invalid scheduler policy %q", s.Policy)
	}
	if s.Policy == specs.SchedOther || s.Policy == specs.SchedBatch {
		if s.Nice < -20 || s.Nice > 19 {
			return fmt.Errorf("invalid scheduler.nice: %d when scheduler.policy is %s", s.Nice, s.Policy)
		}
	}
	if s.Priority != 0 && s.Policy != specs.SchedFIFO && s.Policy != specs.SchedRR {
		return errors.New("scheduler.priority can only be specified for SchedFIFO or SchedRR policy")
	}
	if s.Policy != specs.SchedDeadline && (s.Runtime != 0 || s.Deadline != 0 || s.Period != 0) {
		return errors.New("scheduler runtime/deadline/period can only be specified for SchedDeadline policy")
	}
	return nil
}

func validateIOPriority(p *specs.LinuxIOPriority) error {
	if p == nil {
		return nil
	}
	if p.Priority < 0 || p.Priority > 7 {
		return fmt.Errorf("invalid ioPriority.Priority: %d", p.Priority)
	}
	switch p.Class {
	case specs.IOPRIO_CLASS_RT, specs.IOPRIO_CLASS_BE, specs.IOPRIO_CLASS_IDLE:
		return nil
	}
	return fmt.Errorf("invalid ioPriority.Class: %q", p.Class)
}

func validateRoot(spec *specs.Spec, bundle string) error {
	if spec.Root == nil {
		return errors.New("root must be specified")
	}
	if spec.Root.Path == "" {
		return errors.New("root.path must be specified")
	}
	path := rootfsPath(spec.Root.Path, bundle)
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rootfs (%s) does not exist", path)
		}
		return fmt.Errorf("invalid rootfs: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("rootfs (%s) is not a directory", path)
	}
	return nil
}

// namespaces maps each namespace type in the spec to its path ("" for a
// new namespace).
type namespaces map[specs.LinuxNamespaceType]string

func (n namespaces) has(t specs.LinuxNamespaceType) bool {
	_, ok := n[t]
	return ok
}

// nsProcNames are the known namespace types and their /proc/self/ns names.
var nsProcNames = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace:     "pid",
	specs.NetworkNamespace: "net",
	specs.MountNamespace:   "mnt",
	specs.IPCNamespace:     "ipc",
	specs.UTSNamespace:     "uts",
	specs.UserNamespace:    "user",
	specs.CgroupNamespace:  "cgroup",
	specs.TimeNamespace:    "time",
}

func namespaceSet(list []specs.LinuxNamespace) (namespaces, error) {
	ns := namespaces{}
	for _, n := range list {
		if _, ok := nsProcNames[n.Type]; !ok {
			return nil, fmt.Errorf("namespace %q does not exist", n.Type)
		}
		if ns.has(n.Type) {
			return nil, fmt.Errorf("malformed spec file: duplicated ns %q", n.Type)
		}
		if n.Path != "" {
			if !filepath.IsAbs(n.Path) {
				return nil, fmt.Errorf("namespace path %q for %s namespace must be absolute", n.Path, n.Type)
			}
			if _, err := os.Stat(n.Path); err != nil {
				return nil, fmt.Errorf("%s namespace path: %w", n.Type, err)
			}
		}
		ns[n.Type] = n.Path
	}
	return ns, nil
}

// kernelHasNamespace says whether the running kernel knows a namespace type.
func kernelHasNamespace(t specs.LinuxNamespaceType) bool {
	_, err := os.Stat("/proc/self/ns/" + nsProcNames[t])
	return !errors.Is(err, os.ErrNotExist)
}

func validateUserNamespace(spec *specs.Spec, ns namespaces) error {
	l := spec.Linux
	hasMappings := l.UIDMappings != nil || l.GIDMappings != nil
	if !ns.has(specs.UserNamespace) {
		if hasMappings {
			return errors.New("user namespace mappings specified, but user namespace isn't enabled in the config")
		}
		return nil
	}
	if !kernelHasNamespace(specs.UserNamespace) {
		return errors.New("user namespaces aren't enabled in the kernel")
	}
	// Joining an existing user namespace takes its mappings; containerd and
	// CRI-O also repeat them in the config, which runc tolerates.
	if ns[specs.UserNamespace] != "" {
		return nil
	}
	if !hasMappings {
		return errors.New("user namespaces enabled, but no namespace path to join nor mappings to apply specified")
	}
	if err := checkIDMappings("uid", l.UIDMappings); err != nil {
		return err
	}
	return checkIDMappings("gid", l.GIDMappings)
}

// checkIDMappings requires a non-empty list with no empty ranges that maps
// the container's root, which runc needs to own the container's files.
func checkIDMappings(kind string, maps []specs.LinuxIDMapping) error {
	if len(maps) == 0 {
		return fmt.Errorf("user namespaces enabled, but no %s mappings found", kind)
	}
	rootMapped := false
	for _, m := range maps {
		if m.Size == 0 {
			return fmt.Errorf("invalid %s mapping %d:%d:%d: size must not be zero", kind, m.ContainerID, m.HostID, m.Size)
		}
		if m.ContainerID == 0 {
			rootMapped = true
		}
	}
	if !rootMapped {
		return fmt.Errorf("user namespaces enabled, but no mapping found for %s 0", kind)
	}
	return nil
}

func validateCgroupNamespace(spec *specs.Spec, ns namespaces) error {
	if ns.has(specs.CgroupNamespace) && !kernelHasNamespace(specs.CgroupNamespace) {
		return errors.New("cgroup namespaces aren't enabled in the kernel")
	}
	return nil
}

func validateTimeNamespace(spec *specs.Spec, ns namespaces) error {
	offsets := spec.Linux.TimeOffsets
	if !ns.has(specs.TimeNamespace) {
		if offsets != nil {
			return errors.New("time namespace offsets specified, but time namespace isn't enabled in the config")
		}
		return nil
	}
	if _, err := os.Stat("/proc/self/timens_offsets"); errors.Is(err, os.ErrNotExist) {
		return errors.New("time namespaces aren't enabled in the kernel")
	}
	if ns[specs.TimeNamespace] != "" && offsets != nil {
		return errors.New("time namespace enabled, but both namespace path and time offsets specified -- you may only provide one")
	}
	for clock := range offsets {
		if clock != "monotonic" && clock != "boottime" {
			return fmt.Errorf("unknown time namespace clock %q", clock)
		}
	}
	return nil
}

func validateUTS(spec *specs.Spec, ns namespaces) error {
	if ns.has(specs.UTSNamespace) {
		return nil
	}
	if spec.Hostname != "" {
		return errors.New("unable to set hostname without a private UTS namespace")
	}
	if spec.Domainname != "" {
		return errors.New("unable to set domainname without a private UTS namespace")
	}
	return nil
}

func validateRestrictedPaths(spec *specs.Spec, ns namespaces) error {
	l := spec.Linux
	if (len(l.MaskedPaths) > 0 || len(l.ReadonlyPaths) > 0) && !ns.has(specs.MountNamespace) {
		return errors.New("unable to restrict sys entries without a private MNT namespace")
	}
	return nil
}

// ipcSysctls are the non-prefix sysctls that belong to the IPC namespace.
var ipcSysctls = map[string]bool{
	"kernel.msgmax":          true,
	"kernel.msgmnb":          true,
	"kernel.msgmni":          true,
	"kernel.sem":             true,
	"kernel.shmall":          true,
	"kernel.shmmax":          true,
	"kernel.shmmni":          true,
	"kernel.shm_rmid_forced": true,
}

// validateSysctl allows only sysctls that are namespaced by a namespace the
// container does not share with the host: /proc/sys is mostly global.
func validateSysctl(spec *specs.Spec, ns namespaces) error {
	for key := range spec.Linux.Sysctl {
		s := sysctlDots(key)
		switch {
		case ipcSysctls[s] || strings.HasPrefix(s, "fs.mqueue."):
			if !ns.has(specs.IPCNamespace) {
				return fmt.Errorf("sysctl %q is not allowed in the hosts ipc namespace", s)
			}
		case strings.HasPrefix(s, "net."):
			hostnet, err := usesHostNetwork(ns)
			if err != nil {
				return fmt.Errorf("invalid netns path: %w", err)
			}
			if hostnet {
				return fmt.Errorf("sysctl %q not allowed in host network namespace", s)
			}
		case ns.has(specs.UTSNamespace) && s == "kernel.domainname":
		case ns.has(specs.UTSNamespace) && s == "kernel.hostname":
			return fmt.Errorf("sysctl %q is not allowed as it conflicts with the OCI %q field", s, "hostname")
		case strings.HasPrefix(s, "user."):
			// Without a user namespace these limits are the host's own.
			if !ns.has(specs.UserNamespace) {
				return fmt.Errorf("setting ucounts without a user namespace not allowed: %v", s)
			}
		default:
			return fmt.Errorf("sysctl %q is not in a separate kernel namespace", s)
		}
	}
	return nil
}

// sysctlDots turns the slash form ("net/ipv4/ip_forward") into the dot
// form; in the slash form a dot is part of a name (an interface "eno2.100")
// and becomes a slash, as sysctl(8) does.
func sysctlDots(s string) string {
	i := strings.IndexAny(s, "./")
	if i == -1 || s[i] == '.' {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, s)
}

// usesHostNetwork says whether the container stays in (or joins) the
// network namespace we run in.
func usesHostNetwork(ns namespaces) (bool, error) {
	path, ok := ns[specs.NetworkNamespace]
	if !ok {
		return true, nil
	}
	if path == "" {
		return false, nil
	}
	var self, target unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &self); err != nil {
		return false, &os.PathError{Op: "stat", Path: "/proc/self/ns/net", Err: err}
	}
	if err := unix.Stat(path, &target); err != nil {
		return false, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return self.Dev == target.Dev && self.Ino == target.Ino, nil
}

// validateMounts checks what can be known before mounting. A relative
// destination is accepted and taken relative to / as runc does.
func validateMounts(spec *specs.Spec, _ namespaces) error {
	for _, m := range spec.Mounts {
		if err := validateMount(m); err != nil {
			return fmt.Errorf("invalid mount %q: %w", m.Destination, err)
		}
	}
	return nil
}

func validateMount(m specs.Mount) error {
	if m.Destination == "" {
		return errors.New("destination must not be empty")
	}
	// These strings go to the init as C strings.
	if strings.IndexByte(m.Source, 0) >= 0 || strings.IndexByte(m.Destination, 0) >= 0 ||
		strings.IndexByte(m.Type, 0) >= 0 {
		return errors.New("mount field contains null byte")
	}
	bind, idmap := false, false
	var data []string
	for _, o := range m.Options {
		switch {
		case o == "bind" || o == "rbind":
			bind = true
		case o == "idmap" || o == "ridmap":
			idmap = true
		case !knownMountOptions[o]:
			data = append(data, o)
		}
	}
	if bind && len(data) > 0 {
		// The kernel ignores filesystem options on a bind mount; fail rather
		// than silently drop them.
		return fmt.Errorf("bind mounts cannot have any filesystem-specific options applied (%s)", strings.Join(data, ","))
	}
	if idmap || m.UIDMappings != nil || m.GIDMappings != nil {
		if !bind {
			return errors.New("id-mapped mounts are only supported for bind-mounts")
		}
		if (m.UIDMappings == nil) != (m.GIDMappings == nil) {
			return errors.New("id-mapped mounts must have both uid and gid mappings specified")
		}
	}
	return nil
}

// validateLinuxMisc covers the smaller linux fields that the kernel would
// otherwise reject with a bare EINVAL.
func validateLinuxMisc(spec *specs.Spec, _ namespaces) error {
	l := spec.Linux
	if p := l.RootfsPropagation; p != "" {
		if _, ok := propagationOptions[p]; !ok {
			return fmt.Errorf("rootfsPropagation=%v is not supported", p)
		}
	}
	for _, d := range l.Devices {
		switch d.Type {
		case "c", "b", "u", "p":
		default:
			return fmt.Errorf("invalid device type %q", d.Type)
		}
		if !filepath.IsAbs(d.Path) {
			return fmt.Errorf("device path %q must be absolute", d.Path)
		}
	}
	if l.Resources != nil {
		for _, d := range l.Resources.Devices {
			switch d.Type {
			case "", "a", "c", "b":
			default:
				return fmt.Errorf("invalid cgroup device type %q", d.Type)
			}
		}
	}
	if p := l.Personality; p != nil {
		switch p.Domain {
		case specs.PerLinux, specs.PerLinux32:
		default:
			return fmt.Errorf("invalid personality domain %s", p.Domain)
		}
	}
	return nil
}
