// Package caps applies the OCI process capability sets (bounding,
// effective, permitted, inheritable, ambient).
//
// Order matters, and the init follows it: ApplyBounding while still root
// (dropping from the bounding set needs CAP_SETPCAP), then the uid switch
// with PR_SET_KEEPCAPS, then Apply for the remaining sets.
package caps

import (
	"fmt"
	"strings"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// byName maps "CAP_CHOWN" to its number, for every capability the library
// knows.
var byName = func() map[string]capability.Cap {
	m := map[string]capability.Cap{}
	for _, c := range capability.ListKnown() {
		m["CAP_"+strings.ToUpper(c.String())] = c
	}
	return m
}()

// parse converts names to caps. Names unknown to the library are errors;
// names the running kernel does not have are skipped (runc only warns).
func parse(names []string) ([]capability.Cap, error) {
	last, err := capability.LastCap()
	if err != nil {
		return nil, err
	}
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

// Known lists every capability name.
func Known() []string {
	var names []string
	for _, c := range capability.ListKnown() {
		names = append(names, "CAP_"+strings.ToUpper(c.String()))
	}
	return names
}

// ApplyBounding limits the bounding set to c.Bounding (nil c: untouched).
func ApplyBounding(c *specs.LinuxCapabilities) error {
	if c == nil {
		return nil
	}
	keep, err := parse(c.Bounding)
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
	cur.Clear(capability.BOUNDING)
	cur.Set(capability.BOUNDING, keep...)
	if err := cur.Apply(capability.BOUNDING); err != nil {
		return fmt.Errorf("apply bounding capabilities: %w", err)
	}
	return nil
}

// Apply sets effective, permitted, inheritable and ambient to the spec's
// sets. A nil c (no "capabilities" in the config) leaves them as they are,
// as runc does.
func Apply(c *specs.LinuxCapabilities) error {
	if c == nil {
		return nil
	}
	sets := []struct {
		which capability.CapType
		names []string
	}{
		{capability.EFFECTIVE, c.Effective},
		{capability.PERMITTED, c.Permitted},
		{capability.INHERITABLE, c.Inheritable},
	}
	cur, err := capability.NewPid2(0)
	if err != nil {
		return err
	}
	if err := cur.Load(); err != nil {
		return err
	}
	cur.Clear(capability.CAPS)
	for _, s := range sets {
		list, err := parse(s.names)
		if err != nil {
			return err
		}
		cur.Set(s.which, list...)
	}
	if err := cur.Apply(capability.CAPS); err != nil {
		return fmt.Errorf("apply capabilities: %w", err)
	}
	ambient, err := parse(c.Ambient)
	if err != nil {
		return err
	}
	if err := capability.ResetAmbient(); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	// An ambient capability must also be permitted and inheritable; like
	// runc, one that is not is skipped rather than failing the container.
	for _, a := range ambient {
		capability.SetAmbient(true, a)
	}
	return nil
}
