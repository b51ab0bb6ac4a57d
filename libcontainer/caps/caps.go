// Package caps applies the OCI process capability sets (bounding,
// effective, permitted, inheritable, ambient) to the calling thread.
//
// Order matters, and the init follows it:
//
//  1. ApplyBounding while still root: dropping from the bounding set needs
//     CAP_SETPCAP, which the uid switch may take away.
//  2. prctl(PR_SET_KEEPCAPS, 1), setgroups/setresgid/setresuid, then
//     PR_SET_KEEPCAPS 0. KEEPCAPS keeps the permitted set across the switch
//     away from uid 0 (the kernel clears effective and ambient).
//  3. Apply for effective, permitted, inheritable and ambient.
//
// Capabilities belong to a thread, not a process: the caller must hold
// runtime.LockOSThread from step 1 until execve, and exec from that thread.
//
// Names the library does not know are an error (`unknown capability
// "CAP_X"`); known names the running kernel lacks (above cap_last_cap) are
// skipped, as runc skips them with a warning — see Unavailable.
package caps

import (
	"errors"
	"fmt"
	"strings"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// byName maps "CAP_CHOWN" to its number, for every capability the library
// knows.
var byName = func() map[string]capability.Cap {
	m := map[string]capability.Cap{}
	for _, c := range capability.ListKnown() {
		m[name(c)] = c
	}
	return m
}()

func name(c capability.Cap) string { return "CAP_" + strings.ToUpper(c.String()) }

// parse converts names to caps. Names are matched case-insensitively. Names
// unknown to the library are errors; caps above last (the kernel's
// cap_last_cap) are skipped.
func parse(names []string, last capability.Cap) ([]capability.Cap, error) {
	var out []capability.Cap
	for _, n := range names {
		c, ok := byName[strings.ToUpper(n)]
		if !ok {
			return nil, fmt.Errorf("unknown capability %q", n)
		}
		if c > last {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// Known lists every capability name the library knows, "CAP_CHOWN" first.
func Known() []string {
	var names []string
	for _, c := range capability.ListKnown() {
		names = append(names, name(c))
	}
	return names
}

// Unavailable returns the names in c, from any set, that the running kernel
// does not have and that Apply will therefore skip, so that the caller can
// warn as runc does ("ignoring unknown or unavailable capabilities").
func Unavailable(c *specs.LinuxCapabilities) []string {
	if c == nil {
		return nil
	}
	last, err := capability.LastCap()
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, set := range [][]string{c.Bounding, c.Effective, c.Permitted, c.Inheritable, c.Ambient} {
		for _, n := range set {
			if cp, ok := byName[strings.ToUpper(n)]; ok && cp > last && !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// ApplyBounding drops from the calling thread's bounding set every cap not
// in c.Bounding (nil c: untouched, as runc). It needs CAP_SETPCAP, so call it
// before switching to the container's user.
func ApplyBounding(c *specs.LinuxCapabilities) error {
	if c == nil {
		return nil
	}
	last, err := capability.LastCap()
	if err != nil {
		return err
	}
	keep, err := parse(c.Bounding, last)
	if err != nil {
		return err
	}
	wanted := make(map[capability.Cap]bool, len(keep))
	for _, k := range keep {
		wanted[k] = true
	}
	for cp := capability.Cap(0); cp <= last; cp++ {
		if wanted[cp] {
			continue
		}
		// Only drop what is there, so that an already reduced bounding set
		// (a nested runtime without CAP_SETPCAP) is no error.
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(cp), 0, 0, 0)
		if err != nil || in == 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(cp), 0, 0, 0); err != nil {
			return fmt.Errorf("drop %s from the bounding set: %w", name(cp), err)
		}
	}
	return nil
}

// Apply sets the calling thread's effective, permitted and inheritable sets
// to the spec's (one capset), then clears the ambient set and raises
// c.Ambient. A nil c (no "capabilities" in the config) leaves them as they
// are, as runc does.
func Apply(c *specs.LinuxCapabilities) error {
	if c == nil {
		return nil
	}
	last, err := capability.LastCap()
	if err != nil {
		return err
	}
	sets := []struct {
		which capability.CapType
		names []string
	}{
		{capability.EFFECTIVE, c.Effective},
		{capability.PERMITTED, c.Permitted},
		{capability.INHERITABLE, c.Inheritable},
	}
	// Parse everything before changing anything.
	parsed := make([][]capability.Cap, len(sets))
	for i, s := range sets {
		if parsed[i], err = parse(s.names, last); err != nil {
			return err
		}
	}
	ambient, err := parse(c.Ambient, last)
	if err != nil {
		return err
	}

	cur, err := capability.NewPid2(0)
	if err != nil {
		return err
	}
	if err := cur.Load(); err != nil {
		return err
	}
	cur.Clear(capability.CAPS)
	for i, s := range sets {
		cur.Set(s.which, parsed[i]...)
	}
	if err := cur.Apply(capability.CAPS); err != nil {
		return fmt.Errorf("apply capabilities: %w", err)
	}
	if err := capability.ResetAmbient(); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	// An ambient capability must also be permitted and inheritable; like
	// runc, one that is not is skipped rather than failing the container.
	for _, a := range ambient {
		_ = capability.SetAmbient(true, a)
	}
	return nil
}
