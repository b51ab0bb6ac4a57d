package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli"
	"golang.org/x/sys/unix"

	"github.com/rootlet/rootlet/libcontainer"
	"github.com/rootlet/rootlet/libcontainer/signals"
	"github.com/rootlet/rootlet/libcontainer/state"
)

var startCommand = cli.Command{
	Name:      "start",
	Usage:     "executes the user defined process in a created container",
	ArgsUsage: "<container-id>",
	Action:    containerAction((*libcontainer.Container).Start),
}

// containerState is runc's `state` JSON.
type containerState struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Owner       string            `json:"owner"`
}

func stateOf(ctr *libcontainer.Container) containerState {
	oci := ctr.OCIState()
	return containerState{
		OCIVersion:  oci.Version,
		ID:          ctr.ID(),
		Pid:         oci.Pid,
		Status:      string(oci.Status),
		Bundle:      ctr.State.Bundle,
		Rootfs:      ctr.State.Rootfs,
		Created:     ctr.State.Created,
		Annotations: ctr.State.Annotations,
		Owner:       ctr.State.Owner,
	}
}

var stateCommand = cli.Command{
	Name:      "state",
	Usage:     "output the state of a container",
	ArgsUsage: "<container-id>",
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1); err != nil {
			return err
		}
		ctr, err := loadContainer(c)
		if err != nil {
			return err
		}
		data, err := json.MarshalIndent(stateOf(ctr), "", "  ")
		if err != nil {
			return err
		}
		os.Stdout.Write(append(data, '\n'))
		return nil
	},
}

var killCommand = cli.Command{
	Name:      "kill",
	Usage:     "kill sends the specified signal (default: SIGTERM) to the container's init process",
	ArgsUsage: "<container-id> [signal]",
	Flags: []cli.Flag{
		cli.BoolFlag{Name: "all, a", Usage: "send the specified signal to all processes inside the container"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() < 1 || c.NArg() > 2 {
			return fmt.Errorf("%q requires 1 or 2 arguments", "kill")
		}
		sig := unix.SIGTERM
		if c.NArg() == 2 {
			var err error
			if sig, err = signals.Parse(c.Args().Get(1)); err != nil {
				return err
			}
		}
		ctr, err := loadContainer(c)
		if err != nil {
			return err
		}
		return ctr.Signal(sig, c.Bool("all"))
	},
}

var deleteCommand = cli.Command{
	Name:      "delete",
	Usage:     "delete any resources held by the container often used with detached container",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		cli.BoolFlag{Name: "force, f", Usage: "Forcibly deletes the container if it is still running (uses SIGKILL)"},
	},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1); err != nil {
			return err
		}
		id := c.Args().First()
		rt := runtimeFor(c)
		ctr, err := rt.Load(id)
		if errors.Is(err, state.ErrNotExist) {
			// A create that died before saving its state leaves only the
			// directory: remove it; with --force that is success.
			if id != "" && filepath.Base(id) == id && id != "." && id != ".." {
				os.RemoveAll(rt.Store.Dir(id))
			}
			if c.Bool("force") {
				return nil
			}
		}
		if err != nil {
			return err
		}
		return ctr.Delete(c.Bool("force"))
	},
}

var listCommand = cli.Command{
	Name:  "list",
	Usage: "lists containers started by rootlet with the given root",
	Flags: []cli.Flag{
		cli.StringFlag{Name: "format, f", Value: "table", Usage: `select one of: table or json (default: "table")`},
		cli.BoolFlag{Name: "quiet, q", Usage: "display only container IDs"},
	},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 0); err != nil {
			return err
		}
		ctrs, err := runtimeFor(c).List()
		if err != nil {
			return err
		}
		var states []containerState
		for _, ctr := range ctrs {
			states = append(states, stateOf(ctr))
		}
		if c.Bool("quiet") {
			for _, s := range states {
				fmt.Println(s.ID)
			}
			return nil
		}
		switch c.String("format") {
		case "table":
			w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
			fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
			for _, s := range states {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
			}
			return w.Flush()
		case "json":
			// runc prints null for no containers; managers accept it.
			return json.NewEncoder(os.Stdout).Encode(states)
		default:
			return fmt.Errorf("invalid format option")
		}
	},
}

func loadContainer(c *cli.Context) (*libcontainer.Container, error) {
	id, err := containerArg(c)
	if err != nil {
		return nil, err
	}
	return runtimeFor(c).Load(id)
}

// containerAction is the action of a command that takes exactly one
// container id and calls one method on it.
func containerAction(f func(*libcontainer.Container) error) func(*cli.Context) error {
	return func(c *cli.Context) error {
		if err := checkArgs(c, 1); err != nil {
			return err
		}
		ctr, err := loadContainer(c)
		if err != nil {
			return err
		}
		return f(ctr)
	}
}
