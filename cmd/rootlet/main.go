// Command rootlet is an OCI container runtime with runc's command line.
package main

import (
	"fmt"
	"github.com/rootlet/rootlet/libcontainer/trace"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli"

	"github.com/rootlet/rootlet/libcontainer"
	"github.com/rootlet/rootlet/libcontainer/initproc"
	_ "github.com/rootlet/rootlet/libcontainer/nsenter" // namespace setup before the Go runtime
)

// Set at build time by the Makefile.
var (
	version   = "0.1.0"
	gitCommit = ""
)

func main() {
	trace.Mark("main")
	trace.Mark("main")
	// The container init: the nsenter constructor has already run.
	if len(os.Args) > 1 && os.Args[1] == "init" {
		initproc.Main()
	}
	app := cli.NewApp()
	app.Name = "rootlet"
	app.Usage = "an OCI container runtime, command-line compatible with runc"
	app.Version = version
	cli.VersionPrinter = func(c *cli.Context) {
		fmt.Printf("rootlet version %s\n", version)
		if gitCommit != "" {
			fmt.Printf("commit: %s\n", gitCommit)
		}
		fmt.Printf("spec: %s\n", specs.Version)
		fmt.Printf("go: %s\n", runtime.Version())
		fmt.Printf("libseccomp: %s\n", seccompVersion())
	}
	app.Flags = []cli.Flag{
		cli.BoolFlag{Name: "debug", Usage: "enable debug logging"},
		cli.StringFlag{Name: "log", Usage: "set the log file to write runtime logs to (default is stderr)"},
		cli.StringFlag{Name: "log-format", Value: "text", Usage: "set the log format ('text' (default), or 'json')"},
		cli.StringFlag{Name: "root", Value: defaultRoot(), Usage: "root directory for storage of container state (this should be located in tmpfs)"},
		cli.BoolFlag{Name: "systemd-cgroup", Usage: "enable systemd cgroup support"},
		cli.StringFlag{Name: "rootless", Value: "auto", Usage: "ignore cgroup permission errors ('true', 'false', or 'auto')"},
		cli.StringFlag{Name: "criu", Hidden: true, Usage: "accepted for compatibility; checkpointing is not supported"},
	}
	app.Commands = []cli.Command{
		createCommand,
		startCommand,
		stateCommand,
		killCommand,
		deleteCommand,
		runCommand,
		execCommand,
		listCommand,
		psCommand,
		pauseCommand,
		resumeCommand,
		updateCommand,
		eventsCommand,
		specCommand,
		featuresCommand,
	}
	app.Before = setupLogging
	// Flag errors and unknown commands are errors like any other.
	app.CommandNotFound = func(c *cli.Context, name string) {
		fatal(fmt.Errorf("unknown command %q; see 'rootlet --help'", name))
	}
	app.OnUsageError = func(c *cli.Context, err error, isSub bool) error { return err }
	if err := app.Run(os.Args); err != nil {
		fatal(err)
	}
}

func defaultRoot() string {
	if os.Geteuid() != 0 {
		if xdg := os.Getenv("XDG_RUNTIME_DIR"); xdg != "" {
			return filepath.Join(xdg, "rootlet")
		}
		return filepath.Join(os.TempDir(), fmt.Sprintf("rootlet-%d", os.Geteuid()))
	}
	return "/run/rootlet"
}

var logToStderr = true

func setupLogging(c *cli.Context) error {
	if c.GlobalBool("debug") {
		logrus.SetLevel(logrus.DebugLevel)
	}
	if path := c.GlobalString("log"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return err
		}
		logrus.SetOutput(f)
		logToStderr = false
	}
	switch c.GlobalString("log-format") {
	case "text":
	case "json":
		logrus.SetFormatter(new(logrus.JSONFormatter))
	default:
		return fmt.Errorf("invalid log-format: %s", c.GlobalString("log-format"))
	}
	return nil
}

// exitError carries a process exit status out of a command without
// printing anything (run and exec return the container's status).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// codedError is an error printed like any other but exiting with code,
// e.g. exec's 255 when the process could not be started (as runc).
type codedError struct {
	err  error
	code int
}

func (e *codedError) Error() string { return e.err.Error() }

func fatal(err error) {
	if e, ok := err.(*exitError); ok {
		os.Exit(e.code)
	}
	code := 1
	if e, ok := err.(*codedError); ok {
		code = e.code
	}
	// One line: the log keeps the structured record, stderr the message.
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	logrus.Error(msg)
	if !logToStderr {
		fmt.Fprintln(os.Stderr, msg)
	}
	os.Exit(code)
}

func runtimeFor(c *cli.Context) *libcontainer.Runtime {
	return libcontainer.New(c.GlobalString("root"))
}

// containerArg returns the single container id argument.
func containerArg(c *cli.Context) (string, error) {
	if c.NArg() < 1 {
		return "", fmt.Errorf("%q requires a container id", c.Command.Name)
	}
	id := c.Args().First()
	if id == "" {
		return "", fmt.Errorf("container id cannot be empty")
	}
	return id, nil
}

func checkArgs(c *cli.Context, want int) error {
	if c.NArg() != want {
		return fmt.Errorf("%q requires exactly %d argument(s)", c.Command.Name, want)
	}
	return nil
}

func seccompVersion() string { return "n/a" }
