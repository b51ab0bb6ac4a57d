// Package initproc is the child side of container creation and exec: it runs
// in the container's namespaces (entered by the nsenter constructor before Go
// started), builds the rootfs, sets up the process and execs the user program.
package initproc

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/rootlet/rootlet/libcontainer/trace"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rootlet/rootlet/libcontainer/caps"
	"github.com/rootlet/rootlet/libcontainer/console"
	"github.com/rootlet/rootlet/libcontainer/hooks"
	"github.com/rootlet/rootlet/libcontainer/nsenter"
	"github.com/rootlet/rootlet/libcontainer/protocol"
	"github.com/rootlet/rootlet/libcontainer/rootfs"
)

// Main is the entry of `rootlet init`. It never returns: it execs the user
// program or exits non-zero after reporting the error to the parent.
func Main() {
	// One thread does all the setup; credentials and the final execve are
	// then consistent (Go applies setuid to all threads, but prctl and
	// capabilities are per thread).
	runtime.LockOSThread()
	trace.Mark("init: go main")
	fd, err := strconv.Atoi(os.Getenv(nsenter.EnvInitFD))
	if err != nil {
		fmt.Fprintln(os.Stderr, "rootlet init: must be started by the runtime")
		os.Exit(1)
	}
	os.Unsetenv(nsenter.EnvInitFD)
	sock := os.NewFile(uintptr(fd), "init-sock")
	i := &initer{sock: sock, enc: json.NewEncoder(sock), dec: json.NewDecoder(sock)}
	err = i.run()
	// Only errors reach here; success ends in execve. After "ready" the
	// parent may be gone: then the container's stderr is all we have.
	if i.enc.Encode(protocol.Message{Type: protocol.MsgError, Error: err.Error()}) != nil {
		fmt.Fprintln(os.Stderr, "rootlet init:", err)
	}
	os.Exit(1)
}

type initer struct {
	sock *os.File
	enc  *json.Encoder
	dec  *json.Decoder
	cfg  protocol.InitConfig
}

func (i *initer) run() error {
	if err := i.dec.Decode(&i.cfg); err != nil {
		return fmt.Errorf("read init config: %w", err)
	}
	cfg := &i.cfg
	proc := cfg.Process
	if proc == nil {
		return errors.New("init config has no process")
	}
	if cfg.Mode == protocol.ModeCreate {
		if err := i.setupContainer(); err != nil {
			return err
		}
	}
	trace.Mark("init: rootfs prepared")
	if err := i.setupTerminal(); err != nil {
		return err
	}
	if cfg.Mode == protocol.ModeCreate {
		spec := cfg.Spec
		if spec.Linux != nil {
			if err := rootfs.WriteSysctls(spec.Linux.Sysctl); err != nil {
				return err
			}
		}
		if err := rootfs.Finalize(i.rootfsOptions()); err != nil {
			return err
		}
	}
	if !cfg.NoNewKeyring {
		// A fresh session keyring so the container cannot read the host's.
		// EPERM/ENOSYS (keyrings disabled or restricted) is not fatal, as in runc.
		name := "_ses"
		if cfg.State != nil {
			name += "." + cfg.State.ID
		}
		if _, err := unix.KeyctlJoinSessionKeyring(name); err != nil && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("join session keyring: %w", err)
		}
	}
	trace.Mark("init: finalized")
	// Still privileged: joining a cgroup needs it.
	if err := i.joinCgroup(); err != nil {
		return err
	}
	trace.Mark("init: joined cgroup")
	argv0, err := i.setupProcess(proc)
	if err != nil {
		return err
	}
	if err := i.enc.Encode(protocol.Message{Type: protocol.MsgReady}); err != nil {
		return err
	}
	trace.Mark("init: ready sent")
	if cfg.Mode == protocol.ModeCreate {
		fifo, err := waitForStart(cfg.FifoFD)
		if err != nil {
			return err
		}
		if cfg.Spec.Hooks != nil && len(cfg.Spec.Hooks.StartContainer) > 0 {
			// Still "created": the user program has not started yet.
			st := *cfg.State
			st.Status = specs.StateCreated
			if err := hooks.Run("startContainer", cfg.Spec.Hooks.StartContainer, &st); err != nil {
				return err
			}
		}
		// The byte tells `start` we are going ahead; the fifo stays open
		// (close-on-exec), so `start` sees EOF exactly when execve has
		// replaced us and can run poststart hooks after it.
		if _, err := fifo.Write([]byte("0")); err != nil {
			return fmt.Errorf("write exec fifo: %w", err)
		}
	}
	return i.exec(argv0, proc)
}

func (i *initer) rootfsOptions() *rootfs.Options {
	return &rootfs.Options{Spec: i.cfg.Spec, Rootfs: i.cfg.Rootfs, NoPivot: i.cfg.NoPivot, InUserNS: i.cfg.InUserNS, CgroupFDs: append(append([]int{}, i.cfg.CgroupFDs...), i.cfg.CgroupTaskFDs...)}
}

// setupContainer does the once-per-container work: hostname and the rootfs.
func (i *initer) setupContainer() error {
	spec := i.cfg.Spec
	if i.cfg.NewUTS {
		if spec.Hostname != "" {
			if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
				return fmt.Errorf("set hostname: %w", err)
			}
		}
		if spec.Domainname != "" {
			if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
				return fmt.Errorf("set domainname: %w", err)
			}
		}
	}
	return rootfs.Prepare(i.rootfsOptions(), i.beforePivot)
}

// beforePivot runs the hooks that must see the mounts but the host's root:
// prestart and createRuntime in the parent, then createContainer here.
func (i *initer) beforePivot() error {
	if !i.cfg.SyncHooks {
		return nil
	}
	if err := i.enc.Encode(protocol.Message{Type: protocol.MsgHooks}); err != nil {
		return err
	}
	var reply protocol.Message
	if err := i.dec.Decode(&reply); err != nil {
		return fmt.Errorf("waiting for hooks: %w", err)
	}
	if reply.Type != protocol.MsgHooksDone {
		return fmt.Errorf("unexpected message %q while waiting for hooks", reply.Type)
	}
	if h := i.cfg.Spec.Hooks; h != nil && len(h.CreateContainer) > 0 {
		return hooks.Run("createContainer", h.CreateContainer, i.cfg.State)
	}
	return nil
}

// setupTerminal makes a pty inside the container, hands its master to the
// console socket and makes the slave our controlling terminal and stdio.
func (i *initer) setupTerminal() error {
	proc := i.cfg.Process
	if !proc.Terminal {
		return nil
	}
	if i.cfg.ConsoleFD < 0 {
		return errors.New("a terminal was requested but no console socket was given")
	}
	master, slave, err := console.NewPty()
	if err != nil {
		return fmt.Errorf("create pty: %w", err)
	}
	defer master.Close()
	if proc.ConsoleSize != nil {
		if err := console.SetSize(master, proc.ConsoleSize.Width, proc.ConsoleSize.Height); err != nil {
			return err
		}
	}
	if i.cfg.Mode == protocol.ModeCreate {
		if err := rootfs.MountConsole(slave); err != nil {
			return err
		}
	}
	sock := os.NewFile(uintptr(i.cfg.ConsoleFD), "console-socket")
	if err := console.SendFd(sock, master.Name(), master); err != nil {
		return fmt.Errorf("send pty master to console socket: %w", err)
	}
	sock.Close()
	return console.SetupSlaveStdio(slave)
}

// setupProcess applies limits, identity and privileges, and resolves the
// program in the container's PATH, so that errors surface at create.
func (i *initer) setupProcess(p *specs.Process) (string, error) {
	for _, rl := range p.Rlimits {
		res, ok := rlimitTypes[rl.Type]
		if !ok {
			return "", fmt.Errorf("unknown rlimit type %q", rl.Type)
		}
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: rl.Soft, Max: rl.Hard}); err != nil {
			return "", fmt.Errorf("setrlimit %s: %w", rl.Type, err)
		}
	}
	if p.User.Umask != nil {
		unix.Umask(int(*p.User.Umask))
	} else {
		unix.Umask(0o022)
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if i.cfg.Mode == protocol.ModeCreate {
		// As runc: the working directory is created if the image lacks it.
		// We are already chrooted, so the path cannot leave the rootfs.
		if err := os.MkdirAll(cwd, 0o755); err != nil {
			return "", fmt.Errorf("create cwd %s: %w", cwd, err)
		}
	}
	if err := unix.Chdir(cwd); err != nil {
		return "", fmt.Errorf("chdir to cwd (%q) set in config.json failed: %w", cwd, err)
	}
	if err := setUser(p); err != nil {
		return "", err
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return "", fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	// CVE-2024-21626: a cwd reached through a leaked host fd shows as
	// unreachable; refuse to run there.
	wd, err := os.Getwd()
	if err != nil || !strings.HasPrefix(wd, "/") {
		return "", fmt.Errorf("current working directory is outside of container mount namespace root -- possible container breakout detected")
	}
	return lookPath(p.Args[0], p.Env)
}

// setUser switches to the process's uid/gid/groups keeping the capability
// sets the spec asks for.
func setUser(p *specs.Process) error {
	if err := caps.ApplyBounding(p.Capabilities); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set keepcaps: %w", err)
	}
	groups := make([]int, 0, len(p.User.AdditionalGids))
	for _, g := range p.User.AdditionalGids {
		groups = append(groups, int(g))
	}
	// setgroups is denied in user namespaces with setgroups=deny; only fail
	// when the spec asks for groups.
	if err := unix.Setgroups(groups); err != nil && len(groups) > 0 {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := unix.Setresgid(int(p.User.GID), int(p.User.GID), int(p.User.GID)); err != nil {
		return fmt.Errorf("setgid %d: %w", p.User.GID, err)
	}
	if err := unix.Setresuid(int(p.User.UID), int(p.User.UID), int(p.User.UID)); err != nil {
		return fmt.Errorf("setuid %d: %w", p.User.UID, err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("clear keepcaps: %w", err)
	}
	return caps.Apply(p.Capabilities)
}

// lookPath resolves the program like execvp would, with the container's PATH.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", execError(name, err)
		}
		return name, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		cand := dir + "/" + name
		if st, err := os.Stat(cand); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return cand, nil
		}
	}
	return "", fmt.Errorf("exec: %q: %w", name, exec.ErrNotFound)
}

func execError(name string, err error) error {
	return fmt.Errorf("exec: %q: %w", name, err)
}

// joinCgroup moves us into the container's cgroups at the end of setup:
// pages we touched so far stay charged to the runtime's cgroup, so the
// container's limits count only the user program. Then the cgroup
// namespace, rooted at the container's cgroup. Both act on this locked
// thread, the one that will execve.
func (i *initer) joinCgroup() error {
	for _, fd := range i.cfg.CgroupFDs {
		if _, err := unix.Write(fd, []byte("0")); err != nil {
			return fmt.Errorf("join cgroup: %w", err)
		}
		unix.Close(fd)
	}
	tid := []byte(strconv.Itoa(unix.Gettid()))
	for _, fd := range i.cfg.CgroupTaskFDs {
		if _, err := unix.Write(fd, tid); err != nil {
			return fmt.Errorf("join cgroup: %w", err)
		}
		unix.Close(fd)
	}
	if i.cfg.CgroupNS {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("unshare cgroup namespace: %w", err)
		}
	}
	return nil
}

// waitForStart blocks until `start` opens the exec fifo for reading.
func waitForStart(fifoFD int) (*os.File, error) {
	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fifoFD), os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open exec fifo: %w", err)
	}
	unix.Close(fifoFD)
	return f, nil
}

// exec replaces us with the user program; all fds above the passed ones are
// closed so no host fd reaches the container.
func (i *initer) exec(argv0 string, p *specs.Process) error {
	// The init socket is among the fds made close-on-exec below: the parent
	// sees EOF exactly when execve succeeded, and an execve error still
	// reaches it.
	first := uint(3 + i.cfg.PassFDs)
	if err := unix.CloseRange(first, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close_range: %w", err)
	}
	err := unix.Exec(argv0, p.Args, p.Env)
	return execError(p.Args[0], err)
}

var rlimitTypes = map[string]int{
	"RLIMIT_AS":         unix.RLIMIT_AS,
	"RLIMIT_CORE":       unix.RLIMIT_CORE,
	"RLIMIT_CPU":        unix.RLIMIT_CPU,
	"RLIMIT_DATA":       unix.RLIMIT_DATA,
	"RLIMIT_FSIZE":      unix.RLIMIT_FSIZE,
	"RLIMIT_LOCKS":      unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK":    unix.RLIMIT_MEMLOCK,
	"RLIMIT_MSGQUEUE":   unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       unix.RLIMIT_NICE,
	"RLIMIT_NOFILE":     unix.RLIMIT_NOFILE,
	"RLIMIT_NPROC":      unix.RLIMIT_NPROC,
	"RLIMIT_RSS":        unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO":     unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK":      unix.RLIMIT_STACK,
}
