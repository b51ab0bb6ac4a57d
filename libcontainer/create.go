package libcontainer

import (
	"errors"
	"fmt"
	"github.com/rootlet/rootlet/libcontainer/trace"
	"io"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rootlet/rootlet/libcontainer/cgroups"
	"github.com/rootlet/rootlet/libcontainer/exeseal"
	"github.com/rootlet/rootlet/libcontainer/hooks"
	"github.com/rootlet/rootlet/libcontainer/protocol"
	"github.com/rootlet/rootlet/libcontainer/spawn"
	"github.com/rootlet/rootlet/libcontainer/state"
)

// CreateOptions are the inputs of `create` (and `run`).
type CreateOptions struct {
	ID           string
	Bundle       string // absolute
	Rootfs       string // absolute, symlinks resolved
	Spec         *specs.Spec
	NoPivot      bool
	NoNewKeyring bool
	Console      *os.File // connected console socket or nil
	PassFiles    []*os.File
	// SystemdCgroup selects the systemd cgroup driver; Rootless makes
	// cgroup permission errors warnings.
	SystemdCgroup bool
	Rootless      bool
	Stdin         io.Reader
	Stdout        io.Writer
	Stderr        io.Writer
}

// nsNames maps OCI namespace types to nsenter's names and clone flags.
var nsNames = map[specs.LinuxNamespaceType]struct {
	name string
	flag int
}{
	specs.UserNamespace:    {"user", unix.CLONE_NEWUSER},
	specs.MountNamespace:   {"mnt", unix.CLONE_NEWNS},
	specs.PIDNamespace:     {"pid", unix.CLONE_NEWPID},
	specs.NetworkNamespace: {"net", unix.CLONE_NEWNET},
	specs.IPCNamespace:     {"ipc", unix.CLONE_NEWIPC},
	specs.UTSNamespace:     {"uts", unix.CLONE_NEWUTS},
	specs.CgroupNamespace:  {"cgroup", unix.CLONE_NEWCGROUP},
	specs.TimeNamespace:    {"time", unix.CLONE_NEWTIME},
}

// NamespaceName is nsenter's and /proc/pid/ns's name of an OCI namespace.
func NamespaceName(t specs.LinuxNamespaceType) (string, bool) {
	n, ok := nsNames[t]
	return n.name, ok
}

func bootstrapFor(spec *specs.Spec) (spawn.Bootstrap, error) {
	var b spawn.Bootstrap
	if spec.Linux == nil {
		return b, nil
	}
	for _, ns := range spec.Linux.Namespaces {
		n, ok := nsNames[ns.Type]
		if !ok {
			return b, fmt.Errorf("unknown namespace type %q", ns.Type)
		}
		if ns.Path != "" {
			b.Joins = append(b.Joins, spawn.Join{Type: n.name, Path: ns.Path})
		} else {
			b.Unshare |= n.flag
		}
	}
	b.UIDMappings = spec.Linux.UIDMappings
	b.GIDMappings = spec.Linux.GIDMappings
	b.TimeOffsets = spec.Linux.TimeOffsets
	if spec.Process != nil {
		b.OOMScoreAdj = spec.Process.OOMScoreAdj
	}
	return b, nil
}

func hasNamespace(spec *specs.Spec, t specs.LinuxNamespaceType, newOnly bool) bool {
	if spec.Linux == nil {
		return false
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == t && (!newOnly || ns.Path == "") {
			return true
		}
	}
	return false
}

// Create makes a container whose init waits, fully set up, for `start`.
// On failure nothing is left: the init is killed and the state dir removed.
func (r *Runtime) Create(o *CreateOptions) (c *Container, err error) {
	h, err := r.Store.Create(o.ID)
	if err != nil {
		return nil, err
	}
	trace.Mark("create: state dir")
	defer h.Unlock()
	var initPid int
	var cgm cgroups.Manager
	defer func() {
		if err == nil {
			return
		}
		if initPid > 0 {
			start, _, serr := procStat(initPid)
			unix.Kill(initPid, unix.SIGKILL)
			var ws unix.WaitStatus
			unix.Wait4(initPid, &ws, unix.WNOHANG, nil)
			if serr == nil {
				// Not our child once nsenter forked: wait for its death.
				waitGone(initPid, start, 5*time.Second)
			}
		}
		if cgm != nil {
			cgm.Destroy()
		}
		h.Remove()
	}()
	var cgroupsPath string
	var resources *specs.LinuxResources
	if o.Spec.Linux != nil {
		cgroupsPath, resources = o.Spec.Linux.CgroupsPath, withDefaultDevices(o.Spec.Linux.Resources)
	}
	cgm, err = cgroups.New(o.ID, cgroupsPath, o.SystemdCgroup, o.Rootless)
	if err != nil {
		return nil, err
	}
	// The cgroups exist and are limited before the init starts; the init
	// joins them itself at the end of its setup (see InitConfig.CgroupFDs).
	if err := cgm.Apply(-1); err != nil {
		return nil, err
	}
	if err := cgm.Set(resources); err != nil {
		return nil, err
	}
	join, err := openCgroupJoin(cgm.Paths())
	if err != nil {
		return nil, err
	}
	defer join.close()
	trace.Mark("create: cgroups ready")

	fifoPath := r.Store.FifoPath(o.ID)
	if err := unix.Mkfifo(fifoPath, 0o622); err != nil {
		return nil, fmt.Errorf("create exec fifo: %w", err)
	}
	// mkfifo honours the umask; the init may run as any user.
	if err := os.Chmod(fifoPath, 0o622); err != nil {
		return nil, err
	}
	fifo, err := os.OpenFile(fifoPath, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open exec fifo: %w", err)
	}
	defer fifo.Close()

	boot, err := bootstrapFor(o.Spec)
	if err != nil {
		return nil, err
	}
	// The cgroup namespace is unshared by the init after it joins its
	// cgroup, so it is rooted there.
	newCgroupNS := boot.Unshare&unix.CLONE_NEWCGROUP != 0
	boot.Unshare &^= unix.CLONE_NEWCGROUP
	exe, err := exeseal.Open()
	if err != nil {
		return nil, err
	}
	defer exe.Close()

	st := &state.State{
		ID:          o.ID,
		Bundle:      o.Bundle,
		Rootfs:      o.Rootfs,
		Created:     time.Now().UTC(),
		Owner:       ownerName(),
		Annotations: o.Spec.Annotations,
		Config:      o.Spec,
		Rootless:    o.Rootless,
	}
	c = &Container{rt: r, State: st}
	hookState := func(pid int) *specs.State {
		return &specs.State{Version: specs.Version, ID: o.ID, Status: specs.StateCreating, Pid: pid, Bundle: o.Bundle, Annotations: o.Spec.Annotations}
	}
	h0 := o.Spec.Hooks
	syncHooks := h0 != nil && (len(h0.Prestart) > 0 || len(h0.CreateRuntime) > 0 || len(h0.CreateContainer) > 0)

	cfg := &protocol.InitConfig{
		Mode:         protocol.ModeCreate,
		Spec:         o.Spec,
		Process:      o.Spec.Process,
		Rootfs:       o.Rootfs,
		NoPivot:      o.NoPivot,
		NoNewKeyring: o.NoNewKeyring,
		InUserNS:     hasNamespace(o.Spec, specs.UserNamespace, false),
		NewUTS:       hasNamespace(o.Spec, specs.UTSNamespace, true),
		SyncHooks:    syncHooks,
		CgroupNS:     newCgroupNS,
		State:        hookState(0),
	}
	opts := &spawn.Options{
		Exe:         exe,
		Bootstrap:   boot,
		Config:      cfg,
		Stdin:       o.Stdin,
		Stdout:      o.Stdout,
		Stderr:      o.Stderr,
		PassFiles:   o.PassFiles,
		Console:     o.Console,
		Fifo:        fifo,
		CgroupProcs: join.procs,
		CgroupTasks: join.tasks,
		CgroupDir:   join.dir,
		OnHooks: func(pid int) error {
			initPid = pid
			hs := hookState(pid)
			if err := hooks.Run("prestart", h0.Prestart, hs); err != nil {
				return err
			}
			return hooks.Run("createRuntime", h0.CreateRuntime, hs)
		},
	}
	proc, err := spawn.Start(opts)
	if err != nil {
		return nil, err
	}
	trace.Mark("create: init ready")
	initPid = proc.Pid
	st.InitPid = proc.Pid
	start, _, err := procStat(proc.Pid)
	if err != nil {
		return nil, fmt.Errorf("container init exited: %w", err)
	}
	st.InitStartTime = start
	st.CgroupPaths = cgm.Paths()
	if err := h.Save(st); err != nil {
		return nil, err
	}
	return c, nil
}

// Start releases a created container's init into the user program and runs
// the poststart hooks.
func (c *Container) Start() error {
	switch s := c.Status(); s {
	case Created:
	case Stopped:
		return errors.New("cannot start a container that has stopped")
	default:
		return fmt.Errorf("cannot start an already running container")
	}
	fifoPath := c.rt.Store.FifoPath(c.ID())
	// Opening for reading blocks until the init opens for writing; it is
	// already blocked there, unless it died, so use a nonblocking open.
	f, err := os.OpenFile(fifoPath, os.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer f.Close()
	if err := awaitFifoByte(f, c); err != nil {
		return err
	}
	os.Remove(fifoPath)
	spec, err := c.Config()
	if err != nil {
		return err
	}
	if h := spec.Hooks; h != nil && len(h.Poststart) > 0 {
		if err := hooks.Run("poststart", h.Poststart, c.OCIState()); err != nil {
			// The spec says a poststart failure is only logged; runc fails
			// the start. We follow runc and kill the container.
			c.Signal(unix.SIGKILL, false)
			return err
		}
	}
	return nil
}

// awaitFifoByte waits for the init's byte on the fifo and then for EOF,
// which comes when the init's execve closes its end; it notices if the init
// dies instead.
func awaitFifoByte(f *os.File, c *Container) error {
	buf := make([]byte, 1)
	gotByte := false
	for {
		n, err := unix.Read(int(f.Fd()), buf)
		switch {
		case n == 1:
			gotByte = true
			continue
		case n == 0 && err == nil && gotByte:
			return nil
		case err != nil && err != unix.EAGAIN && err != unix.EINTR:
			return fmt.Errorf("read exec fifo: %w", err)
		}
		if !c.initAlive() {
			return errors.New("cannot start a container that has stopped")
		}
		pfd := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLIN}}
		unix.Poll(pfd, 100)
	}
}

// Delete removes a container. A running one needs force (it is killed);
// a created one is killed without force, as runc does.
func (c *Container) Delete(force bool) error {
	h, err := c.rt.Store.Open(c.ID())
	if err != nil {
		return err
	}
	defer h.Unlock()
	status := c.Status()
	switch status {
	case Stopped:
		// The init is gone, but without a pid namespace of its own its
		// children may live on in the cgroup: they go too.
		c.killLeftovers()
	case Created:
		c.kill()
	default:
		if !force {
			return fmt.Errorf("cannot delete container %s that is not stopped: %s", c.ID(), status)
		}
		c.kill()
	}
	var hookErr error
	// A container whose config is unreadable is still deleted.
	if spec, err := c.Config(); err == nil && spec.Hooks != nil && len(spec.Hooks.Poststop) > 0 {
		hk := spec.Hooks
		st := c.OCIState()
		st.Status = specs.StateStopped
		hookErr = hooks.Run("poststop", hk.Poststop, st)
	}
	if len(c.State.CgroupPaths) > 0 {
		if err := c.cgroupManager().Destroy(); err != nil {
			return fmt.Errorf("remove cgroup of container %s: %w", c.ID(), err)
		}
	}
	if err := h.Remove(); err != nil {
		return err
	}
	return hookErr
}

// kill SIGKILLs the init (and, without a pid namespace of its own, every
// process we can attribute to the container) and waits for it to die.
func (c *Container) kill() {
	c.signalAll(unix.SIGKILL)
	unix.Kill(c.State.InitPid, unix.SIGKILL)
	if c.isPaused() {
		// v1-frozen tasks only die once thawed.
		c.cgroupManager().Freeze(false)
	}
	waitGone(c.State.InitPid, c.State.InitStartTime, 10*time.Second)
	c.killLeftovers()
}

// killLeftovers SIGKILLs what remains in the container's cgroup (processes
// that outlived an init without its own pid namespace) until it is empty,
// so the cgroup can be removed.
func (c *Container) killLeftovers() {
	for i := 0; i < 100; i++ {
		pids, _ := c.Processes()
		if len(pids) == 0 {
			return
		}
		for _, p := range pids {
			unix.Kill(p, unix.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// AbsBundle makes a bundle path absolute.
func AbsBundle(b string) (string, error) {
	if b == "" {
		b = "."
	}
	return filepath.Abs(b)
}

// withDefaultDevices appends the devices every container may use (null,
// zero, tty, ptmx, ...) after the spec's own rules, as runc does, so a
// spec's "deny all" does not break /dev/null.
func withDefaultDevices(r *specs.LinuxResources) *specs.LinuxResources {
	out := specs.LinuxResources{}
	if r != nil {
		out = *r
	}
	out.Devices = append(append([]specs.LinuxDeviceCgroup{}, out.Devices...), cgroups.DefaultDeviceRules()...)
	return &out
}

// cgroupJoin is how a new process enters the container's cgroups.
type cgroupJoin struct {
	procs []*os.File // cgroup.procs, written by the init (pure v2)
	tasks []*os.File // v1 tasks files, the init's exec'ing thread
	dir   *os.File   // hybrid unified dir: born there (CLONE_INTO_CGROUP)
}

func (j *cgroupJoin) close() {
	closeAll(j.procs)
	closeAll(j.tasks)
	if j.dir != nil {
		j.dir.Close()
	}
}

// openCgroupJoin opens what a process needs to join every distinct cgroup
// directory. The init joins late, at the end of its setup, so that none of
// the runtime's memory is charged to the container (InitConfig.CgroupFDs):
// v1 hierarchies through "tasks" for its exec'ing thread, pure v2 through
// cgroup.procs. A hybrid host's unified tree holds no memory controller, so
// there the process is simply born in its directory (CLONE_INTO_CGROUP).
//
// Measured cost: the first cgroup migration after a quiet period waits for
// an RCU grace period in the kernel's threadgroup lock (~7-10 ms here, the
// same for runc and crun); migrations right after it are fast. Warming it
// up early does not help: forks and new threads wait behind the pending
// writer.
func openCgroupJoin(paths map[string]string) (*cgroupJoin, error) {
	j := &cgroupJoin{}
	seen := map[string]bool{}
	hybrid := cgroups.Mode() == "hybrid"
	for key, dir := range paths {
		if seen[dir] {
			continue
		}
		seen[dir] = true
		var err error
		var f *os.File
		switch {
		case key != "":
			f, err = os.OpenFile(filepath.Join(dir, "tasks"), os.O_WRONLY|unix.O_CLOEXEC, 0)
			j.tasks = append(j.tasks, f)
		case hybrid:
			// Only non-memory controllers live in a hybrid host's unified
			// tree, so being born there charges nothing.
			j.dir, err = os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		default:
			f, err = os.OpenFile(filepath.Join(dir, "cgroup.procs"), os.O_WRONLY|unix.O_CLOEXEC, 0)
			j.procs = append(j.procs, f)
		}
		if err != nil {
			j.close()
			return nil, fmt.Errorf("open cgroup %s: %w", dir, err)
		}
	}
	return j, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
