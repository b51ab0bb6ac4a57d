package cgroups

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// deviceRule is a linux.resources.devices entry with defaults filled in:
// Type is 'a', 'b' or 'c'; -1 is a wildcard major/minor; Access is a subset
// of "rwm" in that order.
type deviceRule struct {
	Allow        bool
	Type         byte
	Major, Minor int64
	Access       string
}

// wildcard reports a rule that matches every device and every access.
func (r deviceRule) wildcard() bool {
	return r.Type == 'a' && r.Major == -1 && r.Minor == -1 && r.Access == "rwm"
}

func normalizeDeviceRules(in []specs.LinuxDeviceCgroup) ([]deviceRule, error) {
	var out []deviceRule
	for _, d := range in {
		r := deviceRule{Allow: d.Allow, Major: -1, Minor: -1}
		switch d.Type {
		case "", "a":
			r.Type = 'a'
		case "b":
			r.Type = 'b'
		case "c", "u":
			r.Type = 'c'
		case "p":
			// FIFOs are not devices; the device controller never sees them.
			continue
		default:
			return nil, fmt.Errorf("invalid device rule type %q", d.Type)
		}
		if d.Major != nil {
			r.Major = *d.Major
		}
		if d.Minor != nil {
			r.Minor = *d.Minor
		}
		if r.Major < -1 || r.Minor < -1 {
			return nil, fmt.Errorf("invalid device rule %d:%d", r.Major, r.Minor)
		}
		access := d.Access
		if access == "" {
			access = "rwm"
		}
		for _, c := range access {
			if !strings.ContainsRune("rwm", c) {
				return nil, fmt.Errorf("invalid device access %q", d.Access)
			}
		}
		for _, c := range "rwm" {
			if strings.ContainsRune(access, c) {
				r.Access += string(c)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// v1DeviceWrite is one line written to devices.allow or devices.deny.
type v1DeviceWrite struct {
	File  string // "devices.allow" or "devices.deny"
	Value string
}

// v1DeviceWrites turns the rules into writes, in the spec's order (later
// rules override earlier ones, as the kernel applies them). The kernel reads
// any line of type "a" as "all devices, all access", so a narrower type-a
// rule is written as a 'c' and a 'b' line.
func v1DeviceWrites(rules []deviceRule) []v1DeviceWrite {
	var out []v1DeviceWrite
	for _, r := range rules {
		file := "devices.deny"
		if r.Allow {
			file = "devices.allow"
		}
		if r.wildcard() {
			out = append(out, v1DeviceWrite{file, "a"})
			continue
		}
		types := []byte{r.Type}
		if r.Type == 'a' {
			types = []byte{'c', 'b'}
		}
		for _, t := range types {
			out = append(out, v1DeviceWrite{file, fmt.Sprintf("%c %s:%s %s", t, devNum(r.Major), devNum(r.Minor), r.Access)})
		}
	}
	return out
}

func devNum(n int64) string {
	if n == -1 {
		return "*"
	}
	return fmt.Sprint(n)
}

func int64p(v int64) *int64 { return &v }

// DefaultDeviceRules are the devices every container may use whatever its
// spec says (runc allows the same set): null, zero, full, random, urandom,
// tty, console, ptmx and the pty slaves, plus mknod of any char/block device
// (mknod alone grants no access). Append them after the spec's rules.
func DefaultDeviceRules() []specs.LinuxDeviceCgroup {
	rule := func(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
		r := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Access: access}
		if major != -1 {
			r.Major = int64p(major)
		}
		if minor != -1 {
			r.Minor = int64p(minor)
		}
		return r
	}
	return []specs.LinuxDeviceCgroup{
		rule("c", -1, -1, "m"),
		rule("b", -1, -1, "m"),
		rule("c", 1, 3, "rwm"),    // /dev/null
		rule("c", 1, 5, "rwm"),    // /dev/zero
		rule("c", 1, 7, "rwm"),    // /dev/full
		rule("c", 1, 8, "rwm"),    // /dev/random
		rule("c", 1, 9, "rwm"),    // /dev/urandom
		rule("c", 5, 0, "rwm"),    // /dev/tty
		rule("c", 5, 1, "rwm"),    // /dev/console
		rule("c", 5, 2, "rwm"),    // /dev/ptmx
		rule("c", 136, -1, "rwm"), // /dev/pts/*
	}
}
