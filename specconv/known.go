package specconv

import (
	"sort"
	"strings"

	"github.com/moby/sys/capability"
)

// propagationOptions are the mount propagation option names (also valid
// as linux.rootfsPropagation).
var propagationOptions = map[string]bool{
	"private": true, "rprivate": true,
	"slave": true, "rslave": true,
	"shared": true, "rshared": true,
	"unbindable": true, "runbindable": true,
}

// knownMountOptions are the options that are mount flags, propagation,
// recursive mount attributes or runtime extensions; anything else in a
// mount's options is filesystem data (like "mode=755"). Same set as runc.
var knownMountOptions = func() map[string]bool {
	m := map[string]bool{}
	for _, o := range []string{
		// mount(2) flags and their negations
		"async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec",
		"iversion", "lazytime", "loud", "mand", "noatime", "nodev", "nodiratime",
		"noexec", "noiversion", "nolazytime", "nomand", "norelatime", "nostrictatime",
		"nosuid", "nosymfollow", "rbind", "relatime", "remount", "ro", "rw", "silent",
		"strictatime", "suid", "sync", "symfollow",
		// mount_setattr(2) attributes applied recursively
		"rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec",
		"rnodiratime", "rdiratime", "rrelatime", "rnorelatime", "rnoatime", "ratime",
		"rstrictatime", "rnostrictatime", "rnosymfollow", "rsymfollow",
		// runtime extensions
		"tmpcopyup",
	} {
		m[o] = true
	}
	for o := range propagationOptions {
		m[o] = true
	}
	return m
}()

// KnownMountOptions lists the mount options for `features`, sorted.
func KnownMountOptions() []string {
	return sortedKeys(knownMountOptions)
}

// KnownNamespaces lists the namespace types for `features`, sorted.
func KnownNamespaces() []string {
	res := make([]string, 0, len(nsProcNames))
	for t := range nsProcNames {
		res = append(res, string(t))
	}
	sort.Strings(res)
	return res
}

// KnownHooks lists the hook names in the order they run.
func KnownHooks() []string {
	return []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}
}

// capabilityNames maps "CAP_CHOWN" style names to capabilities, for every
// capability the capability library knows (the kernel may know fewer).
var capabilityNames = func() map[string]capability.Cap {
	m := map[string]capability.Cap{}
	for _, c := range capability.ListKnown() {
		m["CAP_"+strings.ToUpper(c.String())] = c
	}
	return m
}()

// KnownCapabilities lists the capability names in kernel number order.
func KnownCapabilities() []string {
	caps := capability.ListKnown()
	sort.Slice(caps, func(i, j int) bool { return caps[i] < caps[j] })
	res := make([]string, 0, len(caps))
	for _, c := range caps {
		res = append(res, "CAP_"+strings.ToUpper(c.String()))
	}
	return res
}

// Capability returns the capability for a name like "CAP_CHOWN".
func Capability(name string) (capability.Cap, bool) {
	c, ok := capabilityNames[name]
	return c, ok
}

func sortedKeys(m map[string]bool) []string {
	res := make([]string, 0, len(m))
	for k := range m {
		res = append(res, k)
	}
	sort.Strings(res)
	return res
}
