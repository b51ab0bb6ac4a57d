package libcontainer

import (
	"errors"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rootlet/rootlet/libcontainer/cgroups"
)

// cgroupManager rebuilds the container's cgroup manager from its state.
func (c *Container) cgroupManager() cgroups.Manager {
	return cgroups.Load(c.State.CgroupPaths, c.State.Rootless)
}

// Pause freezes every process of the container.
func (c *Container) Pause() error {
	switch c.Status() {
	case Running, Created:
	case Paused:
		return errors.New("container already paused")
	default:
		return ErrNotRunning
	}
	if len(c.State.CgroupPaths) == 0 {
		return errors.New("container has no cgroup to freeze")
	}
	return c.cgroupManager().Freeze(true)
}

// Resume thaws a paused container.
func (c *Container) Resume() error {
	if c.Status() != Paused {
		return errors.New("container not paused")
	}
	return c.cgroupManager().Freeze(false)
}

// Update changes the container's resources.
func (c *Container) Update(r *specs.LinuxResources) error {
	if c.Status() == Stopped {
		return ErrNotRunning
	}
	if err := c.cgroupManager().Set(r); err != nil {
		return err
	}
	// Keep the saved config in step so later reads see the new limits.
	h, err := c.rt.Store.Open(c.ID())
	if err != nil {
		return err
	}
	defer h.Unlock()
	spec, err := c.Config()
	if err != nil {
		return err
	}
	if spec.Linux != nil {
		spec.Linux.Resources = mergeResources(spec.Linux.Resources, r)
	}
	return h.Save(c.State)
}

// Stats reads the container's cgroup statistics.
func (c *Container) Stats() (*cgroups.Stats, error) {
	return c.cgroupManager().Stats()
}

// OOMKillCount is how many processes the kernel OOM-killed in the container.
func (c *Container) OOMKillCount() (uint64, error) {
	return c.cgroupManager().OOMKillCount()
}

// mergeResources overlays the set fields of upd on cur.
func mergeResources(cur, upd *specs.LinuxResources) *specs.LinuxResources {
	if cur == nil {
		return upd
	}
	out := *cur
	if upd.Memory != nil {
		out.Memory = upd.Memory
	}
	if upd.CPU != nil {
		out.CPU = upd.CPU
	}
	if upd.Pids != nil {
		out.Pids = upd.Pids
	}
	if upd.BlockIO != nil {
		out.BlockIO = upd.BlockIO
	}
	if len(upd.HugepageLimits) > 0 {
		out.HugepageLimits = upd.HugepageLimits
	}
	if len(upd.Unified) > 0 {
		out.Unified = upd.Unified
	}
	return &out
}
