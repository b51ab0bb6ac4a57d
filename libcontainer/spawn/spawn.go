// Package spawn is the parent side of starting a container init or exec
// process: it starts `rootlet init`, feeds the nsenter bootstrap, writes
// user-namespace id maps, sends the init config and follows the sync
// messages until the child is ready.
package spawn

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/rootlet/rootlet/libcontainer/trace"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rootlet/rootlet/libcontainer/nsenter"
	"github.com/rootlet/rootlet/libcontainer/protocol"
)

// Namespace join/unshare plan for the nsenter constructor.
type Bootstrap struct {
	Joins       []Join // setns by path
	Unshare     int    // CLONE_NEW* flags for new namespaces
	TimeOffsets map[string]specs.LinuxTimeOffset
	OOMScoreAdj *int
	UIDMappings []specs.LinuxIDMapping
	GIDMappings []specs.LinuxIDMapping
}

// Join is one namespace to enter by path.
type Join struct {
	Type string // nsenter name: user mnt pid net ipc uts cgroup time
	Path string
}

func (b *Bootstrap) encode() []byte {
	var sb strings.Builder
	for _, j := range b.Joins {
		fmt.Fprintf(&sb, "join=%s:%s\n", j.Type, j.Path)
	}
	fmt.Fprintf(&sb, "unshare=%#x\n", b.Unshare)
	if len(b.TimeOffsets) > 0 {
		var parts []string
		for clock, off := range b.TimeOffsets {
			parts = append(parts, fmt.Sprintf("%s %d %d", clock, off.Secs, off.Nanosecs))
		}
		fmt.Fprintf(&sb, "timens_offsets=%s\n", strings.Join(parts, ";"))
	}
	if b.OOMScoreAdj != nil {
		fmt.Fprintf(&sb, "oom_score_adj=%d\n", *b.OOMScoreAdj)
	}
	if len(b.UIDMappings) > 0 {
		sb.WriteString("setuid0=1\n")
	}
	return []byte(fmt.Sprintf("%d\n%s", sb.Len(), sb.String()))
}

// Options for one spawn.
type Options struct {
	Exe       *os.File // the runtime binary to run as init (sealed against overwrite)
	Bootstrap Bootstrap
	Config    *protocol.InitConfig
	Stdin     io.Reader
	Stdout    io.Writer
	Stderr    io.Writer
	// PassFiles become fds 3.. in the container (LISTEN_FDS, preserve-fds).
	PassFiles []*os.File
	Console   *os.File // connected console socket, or nil
	Fifo      *os.File // O_PATH exec fifo, or nil
	// CgroupProcs are cgroup.procs files the init writes itself into,
	// CgroupTasks v1 tasks files it writes its exec'ing thread into.
	CgroupProcs []*os.File
	CgroupTasks []*os.File
	// CgroupDir, if set, is a cgroup2 directory the child is born in
	// (clone3 CLONE_INTO_CGROUP): no migration at all.
	CgroupDir *os.File
	// OnStarted runs right after the child starts, before it enters any
	// namespace: cgroup placement goes here so every later fork inherits it.
	OnStarted func(pid int) error
	// WaitExec makes Start return only once the process has execve'd the
	// program (exec), not when it is ready and waiting (create).
	WaitExec bool
	// OnHooks runs prestart/createRuntime hooks when the init reaches them;
	// it gets the container init's pid.
	OnHooks func(pid int) error
}

// Process is a started, ready init or exec process.
type Process struct {
	Pid int // pid of the process that will exec the user program
}

// Start runs the init through its setup and returns when it is ready: for
// create, blocked on the exec fifo; for exec, about to execve. On error the
// child is killed and reaped.
func Start(o *Options) (*Process, error) {
	parentSock, childSock, err := socketPair()
	if err != nil {
		return nil, err
	}
	defer parentSock.Close()

	extra := append([]*os.File{}, o.PassFiles...)
	fdOf := func(f *os.File) int {
		if f == nil {
			return -1
		}
		extra = append(extra, f)
		return 2 + len(extra)
	}
	sockFD := fdOf(childSock)
	o.Config.ConsoleFD = fdOf(o.Console)
	o.Config.FifoFD = fdOf(o.Fifo)
	o.Config.CgroupFDs = nil
	for _, f := range o.CgroupProcs {
		o.Config.CgroupFDs = append(o.Config.CgroupFDs, fdOf(f))
	}
	o.Config.CgroupTaskFDs = nil
	for _, f := range o.CgroupTasks {
		o.Config.CgroupTaskFDs = append(o.Config.CgroupTaskFDs, fdOf(f))
	}
	o.Config.PassFDs = len(o.PassFiles)

	cmd := &exec.Cmd{
		// Our fd table, not the child's: by execve time the child has
		// already moved its ExtraFiles into the low fd numbers.
		Path:       fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), o.Exe.Fd()),
		Args:       []string{"rootlet", "init"},
		Env:        initEnv(sockFD),
		Stdin:      o.Stdin,
		Stdout:     o.Stdout,
		Stderr:     o.Stderr,
		ExtraFiles: extra,
	}
	if o.CgroupDir != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(o.CgroupDir.Fd())}
	}
	if err := cmd.Start(); err != nil {
		childSock.Close()
		return nil, fmt.Errorf("start container init: %w", err)
	}
	childSock.Close()
	trace.Mark("spawn: init started")
	p, err := follow(cmd, parentSock, o)
	if err != nil {
		if p != nil && p.Pid > 0 {
			unix.Kill(p.Pid, unix.SIGKILL)
			reapIfChild(p.Pid)
		}
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	return p, nil
}

// follow drives the protocol from the bootstrap to "ready".
func follow(cmd *exec.Cmd, sock *os.File, o *Options) (*Process, error) {
	if o.OnStarted != nil {
		if err := o.OnStarted(cmd.Process.Pid); err != nil {
			return nil, err
		}
	}
	if _, err := sock.Write(o.Bootstrap.encode()); err != nil {
		return nil, fmt.Errorf("send bootstrap: %w", err)
	}
	r := bufio.NewReader(sock)
	p := &Process{}
	for p.Pid == 0 {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, childExited(cmd, err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "maps":
			if err := writeIDMaps(cmd.Process.Pid, &o.Bootstrap); err != nil {
				return nil, err
			}
			if _, err := sock.Write([]byte("ok\n")); err != nil {
				return nil, err
			}
		case strings.HasPrefix(line, "pid "):
			p.Pid, _ = strconv.Atoi(line[4:])
		case strings.HasPrefix(line, "error "):
			cmd.Wait()
			return nil, errors.New(line[6:])
		default:
			return nil, fmt.Errorf("unexpected bootstrap message %q", line)
		}
	}
	// The nsenter stage that forked has exited; reap it now.
	if p.Pid != cmd.Process.Pid {
		cmd.Wait()
	}
	// Hooks run by the init want the host pid, known only now.
	trace.Mark("spawn: nsenter done")

	if o.Config.State != nil {
		o.Config.State.Pid = p.Pid
	}
	if err := json.NewEncoder(sock).Encode(o.Config); err != nil {
		return p, fmt.Errorf("send init config: %w", err)
	}
	// Buffered bytes from the line reader belong to the JSON stream.
	dec := json.NewDecoder(io.MultiReader(r, sock))
	enc := json.NewEncoder(sock)
	for {
		var m protocol.Message
		if err := dec.Decode(&m); err != nil {
			return p, fmt.Errorf("container init exited before it was ready: %w", err)
		}
		switch m.Type {
		case protocol.MsgHooks:
			if o.OnHooks != nil {
				if err := o.OnHooks(p.Pid); err != nil {
					return p, err
				}
			}
			if err := enc.Encode(protocol.Message{Type: protocol.MsgHooksDone}); err != nil {
				return p, err
			}
		case protocol.MsgReady:
			if !o.WaitExec {
				return p, nil
			}
			// Wait for EOF: the init's execve closed the socket.
			var m protocol.Message
			if err := dec.Decode(&m); err == io.EOF || err == io.ErrUnexpectedEOF {
				return p, nil
			} else if err == nil && m.Type == protocol.MsgError {
				return p, errors.New(m.Error)
			} else if err != nil {
				return p, fmt.Errorf("waiting for the process to start: %w", err)
			}
			return p, fmt.Errorf("unexpected message %q from container init", m.Type)
		case protocol.MsgError:
			return p, errors.New(m.Error)
		default:
			return p, fmt.Errorf("unexpected message %q from container init", m.Type)
		}
	}
}

func childExited(cmd *exec.Cmd, readErr error) error {
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("container init failed during bootstrap: %w", err)
	}
	return fmt.Errorf("container init exited during bootstrap: %w", readErr)
}

// writeIDMaps writes the user namespace's maps for pid. Root writes them
// directly. Without root the kernel allows only our own id mapped once;
// anything larger goes through the setuid newuidmap/newgidmap helpers
// (package uidmap), which check /etc/subuid and /etc/subgid.
func writeIDMaps(pid int, b *Bootstrap) error {
	if os.Geteuid() != 0 {
		if !singleOwnID(b.UIDMappings, os.Geteuid()) {
			if err := runIDMapHelper("newuidmap", pid, b.UIDMappings); err != nil {
				return err
			}
		} else if err := writeMap(pid, "uid_map", b.UIDMappings); err != nil {
			return err
		}
		if !singleOwnID(b.GIDMappings, os.Getegid()) {
			return runIDMapHelper("newgidmap", pid, b.GIDMappings)
		}
		// Writing our own gid map needs setgroups denied first.
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/setgroups", pid), []byte("deny"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("write setgroups: %w", err)
		}
		return writeMap(pid, "gid_map", b.GIDMappings)
	}
	if err := writeMap(pid, "uid_map", b.UIDMappings); err != nil {
		return err
	}
	return writeMap(pid, "gid_map", b.GIDMappings)
}

// singleOwnID: the map is one id, our own (or empty).
func singleOwnID(maps []specs.LinuxIDMapping, own int) bool {
	return len(maps) == 0 || (len(maps) == 1 && maps[0].Size == 1 && int(maps[0].HostID) == own)
}

func runIDMapHelper(helper string, pid int, maps []specs.LinuxIDMapping) error {
	args := []string{strconv.Itoa(pid)}
	for _, m := range maps {
		args = append(args, strconv.FormatUint(uint64(m.ContainerID), 10), strconv.FormatUint(uint64(m.HostID), 10), strconv.FormatUint(uint64(m.Size), 10))
	}
	out, err := exec.Command(helper, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", helper, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func socketPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "init-parent"), os.NewFile(uintptr(fds[1]), "init-child"), nil
}

// reapIfChild collects pid if it is our child (it is when we are its
// subreaper); otherwise its real parent does.
func reapIfChild(pid int) {
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
}

func initEnv(sockFD int) []string {
	env := []string{nsenter.EnvInitFD + "=" + strconv.Itoa(sockFD)}
	if trace.Enabled {
		env = append(env, "ROOTLET_TRACE=1")
	}
	return env
}

func writeMap(pid int, file string, maps []specs.LinuxIDMapping) error {
	if len(maps) == 0 {
		return nil
	}
	var sb strings.Builder
	for _, m := range maps {
		fmt.Fprintf(&sb, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
	}
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/%s", pid, file), []byte(sb.String()), 0); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}
