// Package libcontainer is the runtime core: the container lifecycle (create,
// start, state, kill, delete, exec) on top of the state store, the spawn
// protocol and the init that runs inside the container.
package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rootlet/rootlet/libcontainer/state"
)

// Status is the OCI container status.
type Status string

const (
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Paused   Status = "paused"
	Stopped  Status = "stopped"
)

// Runtime is the runtime root with its store.
type Runtime struct {
	Store *state.Store
}

// New opens the runtime root dir (created lazily on first create).
func New(root string) *Runtime {
	return &Runtime{Store: &state.Store{Root: root}}
}

// Container is a loaded container.
type Container struct {
	rt    *Runtime
	State *state.State
}

// Load reads a container's state.
func (r *Runtime) Load(id string) (*Container, error) {
	st, err := r.Store.Load(id)
	if err != nil {
		return nil, err
	}
	return &Container{rt: r, State: st}, nil
}

// List loads every container.
func (r *Runtime) List() ([]*Container, error) {
	ids, err := r.Store.List()
	if err != nil {
		return nil, err
	}
	var cs []*Container
	for _, id := range ids {
		c, err := r.Load(id)
		if err != nil {
			continue // deleted meanwhile
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// Config returns the container's spec, reading it on first use.
func (c *Container) Config() (*specs.Spec, error) {
	if c.State.Config == nil {
		spec, err := c.rt.Store.LoadConfig(c.ID())
		if err != nil {
			return nil, err
		}
		c.State.Config = spec
	}
	return c.State.Config, nil
}

// ID is the container id.
func (c *Container) ID() string { return c.State.ID }

// Status derives the status from the kernel, never from a stored field: the
// init pid must be alive with the same start time (pid reuse) and not a
// zombie; the exec fifo still exists until start.
func (c *Container) Status() Status {
	if !c.initAlive() {
		return Stopped
	}
	if c.isPaused() {
		return Paused
	}
	if _, err := os.Lstat(c.rt.Store.FifoPath(c.ID())); err == nil {
		return Created
	}
	return Running
}

func (c *Container) initAlive() bool {
	pid := c.State.InitPid
	if pid <= 0 {
		return false
	}
	start, stateChar, err := procStat(pid)
	if err != nil || stateChar == 'Z' || stateChar == 'X' {
		return false
	}
	return start == c.State.InitStartTime
}

// isPaused reports a frozen cgroup.
func (c *Container) isPaused() bool {
	if len(c.State.CgroupPaths) == 0 {
		return false
	}
	frozen, err := c.cgroupManager().IsFrozen()
	return err == nil && frozen
}

// OCIState is the state as `state` prints it and hooks receive it.
func (c *Container) OCIState() *specs.State {
	st := c.Status()
	pid := c.State.InitPid
	if st == Stopped {
		pid = 0
	}
	return &specs.State{
		Version:     specs.Version,
		ID:          c.ID(),
		Status:      specs.ContainerState(st),
		Pid:         pid,
		Bundle:      c.State.Bundle,
		Annotations: c.State.Annotations,
	}
}

// procStat returns the start time (field 22) and state (field 3) of pid.
func procStat(pid int) (uint64, byte, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// comm may contain spaces and parentheses: parse after the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0, 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[i+2:])
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	return start, fields[0][0], err
}

// ownerName is the user who created the container, for `list`.
func ownerName() string {
	uid := os.Geteuid()
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "#" + strconv.Itoa(uid)
}

// waitGone polls until pid is dead (or a zombie) or the timeout passes.
func waitGone(pid int, startTime uint64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		st, c, err := procStat(pid)
		if err != nil || c == 'Z' || c == 'X' || st != startTime {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ErrNotRunning is kill's error for a stopped container; containerd matches
// its text.
var ErrNotRunning = errors.New("container not running")

// Signal sends sig to the container's init, or with all to every process
// in the container.
func (c *Container) Signal(sig unix.Signal, all bool) error {
	status := c.Status()
	if status == Stopped {
		return ErrNotRunning
	}
	if all {
		return c.signalAll(sig)
	}
	if err := unix.Kill(c.State.InitPid, sig); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return ErrNotRunning
		}
		return fmt.Errorf("kill container %s: %w", c.ID(), err)
	}
	// A v1-frozen container would not die until thawed.
	if sig == unix.SIGKILL && status == Paused {
		return c.cgroupManager().Freeze(false)
	}
	return nil
}

// signalAll signals every process in the container: those in its cgroup
// when it has one, else those sharing its pid namespace.
func (c *Container) signalAll(sig unix.Signal) error {
	pids, err := c.Processes()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		unix.Kill(pid, sig)
	}
	if sig == unix.SIGKILL && c.isPaused() {
		return c.cgroupManager().Freeze(false)
	}
	return nil
}

// Processes lists the host pids of the container's processes.
func (c *Container) Processes() ([]int, error) {
	if len(c.State.CgroupPaths) > 0 {
		if pids, err := c.cgroupManager().GetPids(); err == nil {
			return pids, nil
		}
	}
	if !c.initAlive() {
		return nil, nil
	}
	return pidsInNamespace(c.State.InitPid, "pid")
}

// pidsInNamespace finds host processes that share init's namespace of kind.
func pidsInNamespace(initPid int, kind string) ([]int, error) {
	target, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", initPid, kind))
	if err != nil {
		return nil, ErrNotRunning
	}
	self, _ := os.Readlink("/proc/self/ns/" + kind)
	if target == self {
		// Sharing our own namespace: only the init is known to be ours.
		return []int{initPid}, nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind)); err == nil && l == target {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
