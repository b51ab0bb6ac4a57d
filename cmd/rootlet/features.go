package main

import (
	"encoding/json"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/urfave/cli"

	"github.com/rootlet/rootlet/specconv"
)

// annotationVersion carries our version in the features output, as runc's
// org.opencontainers.runc.version does for runc.
const annotationVersion = "io.github.rootlet.version"

var featuresCommand = cli.Command{
	Name:      "features",
	Usage:     "show the enabled features",
	ArgsUsage: "",
	Description: `Show the enabled features.
   The result is parsable as a JSON.
   See https://github.com/opencontainers/runtime-spec/blob/main/features.md for the type definition.`,
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 0); err != nil {
			return err
		}
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "    ")
		return enc.Encode(runtimeFeatures(c.App.Version))
	},
}

// runtimeFeatures says what this build implements, not what the host has.
// Keep it honest: managers skip features we claim and then fail at create.
func runtimeFeatures(version string) features.Features {
	yes, no := true, false
	return features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         specconv.KnownHooks(),
		MountOptions:  specconv.KnownMountOptions(),
		Linux: &features.Linux{
			Namespaces:   specconv.KnownNamespaces(),
			Capabilities: specconv.KnownCapabilities(),
			Cgroup: &features.Cgroup{
				V1:          &yes,
				V2:          &yes,
				Systemd:     &no, // libcontainer/cgroups refuses the systemd driver
				SystemdUser: &no,
				Rdma:        &no,
			},
			Seccomp:  &features.Seccomp{Enabled: &no},
			Apparmor: &features.Apparmor{Enabled: &no},
			Selinux:  &features.Selinux{Enabled: &no},
			IntelRdt: &features.IntelRdt{Enabled: &no},
			MountExtensions: &features.MountExtensions{
				IDMap: &features.IDMap{Enabled: &no},
			},
			NetDevices: &features.NetDevices{Enabled: &no},
		},
		Annotations: map[string]string{
			annotationVersion: version,
		},
	}
}
