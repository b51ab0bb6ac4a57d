package main

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rootlet/rootlet/libcontainer"
	"github.com/rootlet/rootlet/specconv"
)

// loadSpecQuiet reads a bundle's spec for a peek; errors are reported later
// by the real load.
func loadSpecQuiet(bundle string) (*specs.Spec, error) {
	abs, err := libcontainer.AbsBundle(bundle)
	if err != nil {
		return nil, err
	}
	return specconv.Load(abs)
}
