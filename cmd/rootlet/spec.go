package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli"

	"github.com/rootlet/rootlet/specconv"
)

var specCommand = cli.Command{
	Name:      "spec",
	Usage:     "create a new specification file",
	ArgsUsage: "",
	Description: `The spec command creates the new specification file named "` + specconv.ConfigFile + `" for
the bundle.

The spec generated is just a starter file. Editing of the spec is required to
achieve desired results. For example, the newly generated spec includes an args
parameter that is initially set to call the "sh" command when the container is
started.

Pass --rootless to generate a spec that an unprivileged user can run: it adds a
user namespace mapping the current user to root and drops what such a user
cannot set up.`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "bundle, b", Value: "", Usage: "path to the root of the bundle directory"},
		cli.BoolFlag{Name: "rootless", Usage: "generate a configuration for a rootless container"},
	},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 0); err != nil {
			return err
		}
		spec := specconv.Example()
		if c.Bool("rootless") {
			specconv.ToRootless(spec)
		}
		path := filepath.Join(c.String("bundle"), specconv.ConfigFile)
		data, err := json.MarshalIndent(spec, "", "\t")
		if err != nil {
			return err
		}
		// O_EXCL: never overwrite a user's config, even if one appears
		// between a check and the write.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if err != nil {
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("File %s exists. Remove it first", specconv.ConfigFile)
			}
			return err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	},
}
