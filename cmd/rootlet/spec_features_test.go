package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/urfave/cli"

	"github.com/rootlet/rootlet/specconv"
)

// runSpecFeaturesApp runs an app with just the spec and features commands.
func runSpecFeaturesApp(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	app := cli.NewApp()
	app.Name = "rootlet"
	app.Version = "9.8.7"
	app.Writer = &out
	app.Commands = []cli.Command{specCommand, featuresCommand}
	err := app.Run(append([]string{"rootlet"}, args...))
	return out.String(), err
}

func TestSpecCommand(t *testing.T) {
	bundle := t.TempDir()
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := runSpecFeaturesApp(t, "spec", "--bundle", bundle); err != nil {
		t.Fatal(err)
	}
	spec, err := specconv.Load(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if err := specconv.Validate(spec, bundle); err != nil {
		t.Fatalf("generated spec does not validate: %v", err)
	}
	if spec.Process.Args[0] != "sh" {
		t.Errorf("args %v", spec.Process.Args)
	}
	before, _ := os.ReadFile(filepath.Join(bundle, "config.json"))

	// A second run must refuse and leave the file alone.
	_, err = runSpecFeaturesApp(t, "spec", "--rootless", "-b", bundle)
	if err == nil || err.Error() != "File config.json exists. Remove it first" {
		t.Fatalf("second spec: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(bundle, "config.json"))
	if !bytes.Equal(before, after) {
		t.Error("existing config.json was changed")
	}

	if _, err := runSpecFeaturesApp(t, "spec", "extra"); err == nil {
		t.Error("spec with an argument: no error")
	}
}

func TestSpecCommandRootless(t *testing.T) {
	bundle := t.TempDir()
	if _, err := runSpecFeaturesApp(t, "spec", "--rootless", "-b", bundle); err != nil {
		t.Fatal(err)
	}
	spec, err := specconv.Load(bundle)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ns := range spec.Linux.Namespaces {
		types = append(types, string(ns.Type))
	}
	got := strings.Join(types, " ")
	if !strings.HasSuffix(got, " user") || strings.Contains(got, "network") {
		t.Errorf("rootless namespaces %q", got)
	}
	if len(spec.Linux.UIDMappings) != 1 || spec.Linux.UIDMappings[0].HostID != uint32(os.Geteuid()) {
		t.Errorf("uid mappings %+v", spec.Linux.UIDMappings)
	}
}

func TestFeaturesCommand(t *testing.T) {
	out, err := runSpecFeaturesApp(t, "features")
	if err != nil {
		t.Fatal(err)
	}
	var f features.Features
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("features output is not JSON: %v\n%s", err, out)
	}
	if f.OCIVersionMin != "1.0.0" || f.OCIVersionMax != specs.Version {
		t.Errorf("versions %q..%q", f.OCIVersionMin, f.OCIVersionMax)
	}
	if f.Annotations["io.github.rootlet.version"] != "9.8.7" {
		t.Errorf("annotations %v", f.Annotations)
	}
	if len(f.Hooks) != 6 || len(f.MountOptions) == 0 || f.Linux == nil {
		t.Fatalf("features %+v", f)
	}
	if strings.Join(f.Linux.Namespaces, " ") != "cgroup ipc mount network pid time user uts" {
		t.Errorf("namespaces %v", f.Linux.Namespaces)
	}
	if f.Linux.Cgroup == nil || !*f.Linux.Cgroup.V1 || !*f.Linux.Cgroup.V2 || *f.Linux.Cgroup.Systemd {
		t.Errorf("cgroup %+v", f.Linux.Cgroup)
	}
	if f.Linux.Seccomp == nil || f.Linux.Seccomp.Enabled == nil || *f.Linux.Seccomp.Enabled {
		t.Errorf("seccomp %+v", f.Linux.Seccomp)
	}
	if !strings.HasPrefix(out, "{\n    \"ociVersionMin\"") {
		t.Errorf("not indented like runc:\n%s", out[:40])
	}
}
