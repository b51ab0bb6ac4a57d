package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli"

	"github.com/rootlet/rootlet/libcontainer"
	"github.com/rootlet/rootlet/libcontainer/console"
	"github.com/rootlet/rootlet/specconv"
)

var execCommand = cli.Command{
	Name:      "exec",
	Usage:     "execute new process inside the container",
	ArgsUsage: "<container-id> <command> [command options]  || -p process.json <container-id>",
	Flags: []cli.Flag{
		cli.StringFlag{Name: "console-socket", Usage: "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal"},
		cli.StringFlag{Name: "cwd", Usage: "current working directory in the container"},
		cli.StringSliceFlag{Name: "env, e", Usage: "set environment variables"},
		cli.BoolFlag{Name: "tty, t", Usage: "allocate a pseudo-TTY"},
		cli.StringFlag{Name: "user, u", Usage: "UID (format: <uid>[:<gid>])"},
		cli.Int64SliceFlag{Name: "additional-gids, g", Usage: "additional gids"},
		cli.StringFlag{Name: "process, p", Usage: "path to the process.json"},
		cli.BoolFlag{Name: "detach, d", Usage: "detach from the container's process"},
		cli.StringFlag{Name: "pid-file", Usage: "specify the file to write the process id to"},
		cli.StringFlag{Name: "process-label", Usage: "set the asm process label for the process commonly used with selinux"},
		cli.StringFlag{Name: "apparmor", Usage: "set the apparmor profile for the process"},
		cli.BoolFlag{Name: "no-new-privs", Usage: "set the no new privileges value for the process"},
		cli.StringSliceFlag{Name: "cap, c", Usage: "add a capability to the bounding set for the process"},
		cli.IntFlag{Name: "preserve-fds", Usage: "pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)"},
		cli.BoolFlag{Name: "ignore-paused", Usage: "allow exec in a paused container"},
	},
	SkipArgReorder: true,
	Action: func(c *cli.Context) error {
		ctr, err := loadContainer(c)
		if err != nil {
			return err
		}
		proc, err := execProcess(c, ctr)
		if err != nil {
			return err
		}
		detach := c.Bool("detach")
		socketPath := c.String("console-socket")
		switch {
		case proc.Terminal && detach && socketPath == "":
			return errors.New("cannot allocate tty if runc will detach without setting console socket")
		case !proc.Terminal && socketPath != "":
			return errors.New("cannot use console socket if runc will not detach or allocate tty")
		}
		var fg *foreground
		var consoleSock *os.File
		if !detach {
			if fg, err = newForeground(proc.Terminal && socketPath == ""); err != nil {
				return err
			}
			defer fg.close()
			consoleSock = fg.peerSock
		}
		if socketPath != "" {
			if consoleSock, err = console.DialSocket(socketPath); err != nil {
				return fmt.Errorf("connect to console socket %s: %w", socketPath, err)
			}
			defer consoleSock.Close()
		}
		passFiles, extraEnv := passedFiles(c.Int("preserve-fds"))
		proc.Env = append(proc.Env, extraEnv...)
		pid, err := ctr.Exec(&libcontainer.ExecOptions{
			Process:   proc,
			Console:   consoleSock,
			PassFiles: passFiles,
			Stdin:     os.Stdin,
			Stdout:    os.Stdout,
			Stderr:    os.Stderr,
		})
		if err != nil {
			return &codedError{fmt.Errorf("exec failed: unable to start container process: %w", err), 255}
		}
		if err := writePidFile(c.String("pid-file"), pid); err != nil {
			return err
		}
		if detach {
			return nil
		}
		if err := fg.attachTerminal(); err != nil {
			return err
		}
		if code := fg.wait(pid); code != 0 {
			return &exitError{code}
		}
		return nil
	},
}

// execProcess builds the exec'd process: the container's process as the
// default, then --process or the command line on top, as runc does.
func execProcess(c *cli.Context, ctr *libcontainer.Container) (*specs.Process, error) {
	if path := c.String("process"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var p specs.Process
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("parse process.json: %w", err)
		}
		if len(p.Args) == 0 {
			return nil, errors.New("args must not be empty")
		}
		if err := specconv.ValidateProcess(&p); err != nil {
			return nil, err
		}
		return &p, nil
	}
	args := c.Args().Tail()
	if len(args) == 0 {
		return nil, errors.New("exec args cannot be empty")
	}
	spec, err := ctr.Config()
	if err != nil {
		return nil, err
	}
	base := spec.Process
	p := *base
	p.Args = args
	p.Terminal = c.Bool("tty")
	p.ConsoleSize = nil
	p.Env = append(append([]string{}, base.Env...), c.StringSlice("env")...)
	if cwd := c.String("cwd"); cwd != "" {
		p.Cwd = cwd
	}
	if caps := c.StringSlice("cap"); len(caps) > 0 && base.Capabilities != nil {
		cp := *base.Capabilities
		cp.Bounding = append(append([]string{}, cp.Bounding...), caps...)
		cp.Effective = append(append([]string{}, cp.Effective...), caps...)
		cp.Permitted = append(append([]string{}, cp.Permitted...), caps...)
		cp.Ambient = append(append([]string{}, cp.Ambient...), caps...)
		cp.Inheritable = append(append([]string{}, cp.Inheritable...), caps...)
		p.Capabilities = &cp
	}
	if c.Bool("no-new-privs") {
		p.NoNewPrivileges = true
	}
	if label := c.String("process-label"); label != "" {
		p.SelinuxLabel = label
	}
	if prof := c.String("apparmor"); prof != "" {
		p.ApparmorProfile = prof
	}
	if u := c.String("user"); u != "" {
		uidStr, gidStr, hasGid := strings.Cut(u, ":")
		uid, err := strconv.ParseUint(uidStr, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("parsing %s as uid[:gid]: %w", u, err)
		}
		p.User.UID = uint32(uid)
		if hasGid {
			gid, err := strconv.ParseUint(gidStr, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("parsing %s as uid[:gid]: %w", u, err)
			}
			p.User.GID = uint32(gid)
		}
	}
	for _, g := range c.Int64Slice("additional-gids") {
		if g < 0 {
			return nil, fmt.Errorf("additional-gids must be a positive number %d", g)
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
	}
	return &p, nil
}
