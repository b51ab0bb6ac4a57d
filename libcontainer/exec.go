package libcontainer

import (
	"errors"
	"fmt"
	"io"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rootlet/rootlet/libcontainer/exeseal"
	"github.com/rootlet/rootlet/libcontainer/protocol"
	"github.com/rootlet/rootlet/libcontainer/spawn"
)

// ExecOptions describe an extra process in a running container.
type ExecOptions struct {
	Process   *specs.Process
	Console   *os.File
	PassFiles []*os.File
	Stdin     io.Reader
	Stdout    io.Writer
	Stderr    io.Writer
}

// Exec starts a process in all of the container's namespaces and returns its
// host pid once it is about to execve the program.
func (c *Container) Exec(o *ExecOptions) (int, error) {
	switch c.Status() {
	case Stopped:
		return 0, errors.New("cannot exec in a stopped container")
	case Paused:
		return 0, errors.New("cannot exec in a paused container")
	}
	spec, err := c.Config()
	if err != nil {
		return 0, err
	}
	boot, err := c.joinBootstrap()
	if err != nil {
		return 0, err
	}
	exe, err := exeseal.Open()
	if err != nil {
		return 0, err
	}
	defer exe.Close()
	join, err := openCgroupJoin(c.State.CgroupPaths)
	if err != nil {
		return 0, err
	}
	defer join.close()
	cfg := &protocol.InitConfig{
		Mode:    protocol.ModeExec,
		Spec:    spec,
		Process: o.Process,
	}
	proc, err := spawn.Start(&spawn.Options{
		Exe:         exe,
		Bootstrap:   boot,
		Config:      cfg,
		Stdin:       o.Stdin,
		Stdout:      o.Stdout,
		Stderr:      o.Stderr,
		PassFiles:   o.PassFiles,
		Console:     o.Console,
		WaitExec:    true,
		CgroupProcs: join.procs,
		CgroupTasks: join.tasks,
		CgroupDir:   join.dir,
	})
	if err != nil {
		return 0, err
	}
	return proc.Pid, nil
}

// joinBootstrap enters every namespace the container has through its init.
func (c *Container) joinBootstrap() (spawn.Bootstrap, error) {
	var b spawn.Bootstrap
	spec, err := c.Config()
	if err != nil {
		return b, err
	}
	if spec.Linux == nil {
		return b, nil
	}
	for _, ns := range spec.Linux.Namespaces {
		name, ok := NamespaceName(ns.Type)
		if !ok {
			return b, fmt.Errorf("unknown namespace type %q", ns.Type)
		}
		b.Joins = append(b.Joins, spawn.Join{Type: name, Path: fmt.Sprintf("/proc/%d/ns/%s", c.State.InitPid, name)})
	}
	if spec.Process != nil {
		b.OOMScoreAdj = spec.Process.OOMScoreAdj
	}
	return b, nil
}
