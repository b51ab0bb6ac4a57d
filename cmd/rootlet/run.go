package main

import (
	"github.com/urfave/cli"
)

var runCommand = cli.Command{
	Name:      "run",
	Usage:     "create and run a container",
	ArgsUsage: "<container-id>",
	Flags: append([]cli.Flag{
		cli.BoolFlag{Name: "detach, d", Usage: "detach from the container's process"},
		cli.BoolFlag{Name: "keep", Usage: "do not delete the container after it exits"},
	}, createFlags...),
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1); err != nil {
			return err
		}
		if c.Bool("detach") {
			ctr, err := createContainer(c, true, nil)
			if err != nil {
				return err
			}
			if err := ctr.Start(); err != nil {
				ctr.Delete(true)
				return err
			}
			return nil
		}
		// The terminal question needs the spec; a private console socket
		// costs nothing when unused, so decide after loading it.
		fg, err := newForeground(wantsTerminal(c))
		if err != nil {
			return err
		}
		ctr, err := createContainer(c, false, fg.peerSock)
		if err != nil {
			fg.close()
			return err
		}
		if err := fg.attachTerminal(); err != nil {
			ctr.Delete(true)
			fg.close()
			return err
		}
		if err := ctr.Start(); err != nil {
			ctr.Delete(true)
			fg.close()
			return err
		}
		code := fg.wait(ctr.State.InitPid)
		if !c.Bool("keep") {
			if err := ctr.Delete(true); err != nil {
				return err
			}
		}
		if code != 0 {
			return &exitError{code}
		}
		return nil
	},
}

// wantsTerminal peeks at the bundle's process.terminal for a foreground run
// without --console-socket.
func wantsTerminal(c *cli.Context) bool {
	if c.String("console-socket") != "" {
		return false
	}
	bundle := c.String("bundle")
	spec, err := loadSpecQuiet(bundle)
	return err == nil && spec.Process != nil && spec.Process.Terminal
}
