package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/urfave/cli"

	"github.com/rootlet/rootlet/libcontainer"
	"github.com/rootlet/rootlet/libcontainer/console"
	"github.com/rootlet/rootlet/specconv"
)

var createFlags = []cli.Flag{
	cli.StringFlag{Name: "bundle, b", Usage: "path to the root of the bundle directory, defaults to the current directory"},
	cli.StringFlag{Name: "console-socket", Usage: "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal"},
	cli.StringFlag{Name: "pid-file", Usage: "specify the file to write the process id to"},
	cli.BoolFlag{Name: "no-pivot", Usage: "do not use pivot root to jail process inside rootfs"},
	cli.BoolFlag{Name: "no-new-keyring", Usage: "do not create a new session keyring for the container"},
	cli.IntFlag{Name: "preserve-fds", Usage: "pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)"},
}

var createCommand = cli.Command{
	Name:      "create",
	Usage:     "create a container",
	ArgsUsage: "<container-id>",
	Flags:     createFlags,
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1); err != nil {
			return err
		}
		_, err := createContainer(c, true, nil)
		return err
	},
}

// createContainer is the shared part of create and run. detach says whether
// the caller will leave the container running without us; consoleOverride
// is run's own console socket for a foreground terminal.
func createContainer(c *cli.Context, detach bool, consoleOverride *os.File) (*libcontainer.Container, error) {
	id, err := containerArg(c)
	if err != nil {
		return nil, err
	}
	if err := specconv.ValidID(id); err != nil {
		return nil, err
	}
	bundle, err := libcontainer.AbsBundle(c.String("bundle"))
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(bundle); err != nil {
		return nil, fmt.Errorf("invalid bundle: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("invalid bundle: %s is not a directory", bundle)
	}
	spec, err := specconv.Load(bundle)
	if err != nil {
		return nil, err
	}
	if err := specconv.Validate(spec, bundle); err != nil {
		return nil, err
	}
	rootfs, err := specconv.ResolveRootfs(spec, bundle)
	if err != nil {
		return nil, err
	}
	socketPath := c.String("console-socket")
	switch {
	case spec.Process.Terminal && socketPath == "" && consoleOverride == nil && detach:
		return nil, errors.New("cannot allocate tty if runc will detach without setting console socket")
	case !spec.Process.Terminal && socketPath != "":
		return nil, errors.New("cannot use console socket if runc will not detach or allocate tty")
	}
	consoleSock := consoleOverride
	if socketPath != "" {
		if consoleSock, err = console.DialSocket(socketPath); err != nil {
			return nil, fmt.Errorf("connect to console socket %s: %w", socketPath, err)
		}
		defer consoleSock.Close()
	}
	passFiles, extraEnv := passedFiles(c.Int("preserve-fds"))
	spec.Process.Env = append(spec.Process.Env, extraEnv...)

	ctr, err := runtimeFor(c).Create(&libcontainer.CreateOptions{
		ID:            id,
		Bundle:        bundle,
		Rootfs:        rootfs,
		Spec:          spec,
		NoPivot:       c.Bool("no-pivot"),
		NoNewKeyring:  c.Bool("no-new-keyring"),
		Console:       consoleSock,
		PassFiles:     passFiles,
		SystemdCgroup: c.GlobalBool("systemd-cgroup"),
		Rootless:      isRootless(c),
		Stdin:         os.Stdin,
		Stdout:        os.Stdout,
		Stderr:        os.Stderr,
	})
	if err != nil {
		return nil, err
	}
	if err := writePidFile(c.String("pid-file"), ctr.State.InitPid); err != nil {
		ctr.Delete(true)
		return nil, err
	}
	return ctr, nil
}

// passedFiles collects fds handed to the container: systemd's LISTEN_FDS
// first, then --preserve-fds more.
func passedFiles(preserve int) ([]*os.File, []string) {
	var files []*os.File
	var env []string
	listen, _ := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if listen > 0 && os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) {
		for i := 0; i < listen; i++ {
			files = append(files, os.NewFile(uintptr(3+i), "LISTEN_FD_"+strconv.Itoa(3+i)))
		}
		env = append(env, "LISTEN_FDS="+strconv.Itoa(listen), "LISTEN_PID=1")
	}
	for i := 0; i < preserve; i++ {
		fd := 3 + len(files)
		files = append(files, os.NewFile(uintptr(fd), "preserved-"+strconv.Itoa(fd)))
	}
	return files, env
}

// writePidFile writes the pid atomically (temporary file + rename), decimal
// without a newline, as containerd and conmon expect.
func writePidFile(path string, pid int) error {
	if path == "" {
		return nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(abs), "."+filepath.Base(abs)+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, abs)
}

// isRootless resolves --rootless auto|true|false: auto means "not root".
func isRootless(c *cli.Context) bool {
	switch c.GlobalString("rootless") {
	case "true":
		return true
	case "false":
		return false
	default:
		return os.Geteuid() != 0
	}
}
