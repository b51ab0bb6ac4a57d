package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// hookRecorder makes hooks that save the state they get on stdin as
// DIR/NAME.json and append NAME to DIR/order. The directory is also bind
// mounted into the container at the same path, so hooks that run in the
// container's mount namespace (createContainer, startContainer) write to the
// same place; /bin/sh exists on the host and in the busybox rootfs.
type hookRecorder struct {
	dir    string
	ignore string // a hook name left out of order()
}

func (h hookRecorder) hook(name string) specs.Hook {
	script := "cat > " + h.dir + "/" + name + ".json; echo " + name + " >> " + h.dir + "/order"
	return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", script}}
}

func (h hookRecorder) order(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.dir, "order"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, name := range strings.Fields(string(data)) {
		if name != h.ignore {
			names = append(names, name)
		}
	}
	return names
}

// state returns the state a hook received.
func (h hookRecorder) state(t *testing.T, name string) containerState {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.dir, name+".json"))
	if err != nil {
		t.Fatalf("hook %s: %v", name, err)
	}
	var st containerState
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("hook %s got %q: %v", name, data, err)
	}
	return st
}

func TestHooks(t *testing.T) {
	r := newRuntime(t)
	h := hookRecorder{dir: hostDir(t)}
	bundle := newBundle(t, func(s *specs.Spec) {
		addMount(s, bindMount(h.dir, h.dir))
		s.Process.Args = []string{"sleep", "100"}
		s.Hooks = &specs.Hooks{
			Prestart:        []specs.Hook{h.hook("prestart")}, //nolint:staticcheck // deprecated but still used
			CreateRuntime:   []specs.Hook{h.hook("createRuntime")},
			CreateContainer: []specs.Hook{h.hook("createContainer")},
			StartContainer:  []specs.Hook{h.hook("startContainer")},
			Poststart:       []specs.Hook{h.hook("poststart")},
			Poststop:        []specs.Hook{h.hook("poststop")},
		}
	})
	id := newID(t)

	r.mustRun("create", "--bundle", bundle, id)
	if isRunc() {
		// runc before 1.2 runs poststart hooks during create, before the
		// program runs (fixed in runc 1.2); we follow the spec. Check the rest.
		t.Log("runc: ignoring poststart, which runc 1.1 runs at create")
		h.ignore = "poststart"
	}
	// prestart and createRuntime both run in the runtime namespace during
	// create (runc: prestart first); createContainer follows.
	if got := strings.Join(h.order(t), " "); got != "prestart createRuntime createContainer" {
		t.Fatalf("hooks after create: %q", got)
	}
	pid := r.state(id).Pid
	for _, name := range []string{"prestart", "createRuntime", "createContainer"} {
		st := h.state(t, name)
		// createContainer runs inside the container's pid namespace, where
		// runc reports the pid as seen there (1).
		pidOK := st.Pid == pid || (name == "createContainer" && st.Pid == 1)
		if st.ID != id || st.Status != "creating" || !pidOK || st.Bundle != bundle {
			t.Errorf("%s hook got %+v (want status creating, pid %d)", name, st, pid)
		}
	}

	r.mustRun("start", id)
	r.waitStatus(id, "running")
	want := "prestart createRuntime createContainer startContainer poststart"
	if h.ignore == "poststart" {
		want = "prestart createRuntime createContainer startContainer"
	}
	if got := strings.Join(h.order(t), " "); got != want {
		t.Fatalf("hooks after start: %q", got)
	}
	if st := h.state(t, "startContainer"); st.Status != "created" || st.ID != id {
		t.Errorf("startContainer hook got %+v", st)
	}
	if st := h.state(t, "poststart"); (st.Status != "running" && h.ignore != "poststart") || st.Pid != pid {
		t.Errorf("poststart hook got %+v", st)
	}

	r.mustRun("kill", id, "KILL")
	r.waitStatus(id, "stopped")
	r.mustRun("delete", id)
	if got := strings.Join(h.order(t), " "); got != want+" poststop" {
		t.Fatalf("hooks after delete: %q", got)
	}
	if st := h.state(t, "poststop"); st.Status != "stopped" || st.ID != id {
		t.Errorf("poststop hook got %+v", st)
	}
}

func TestFailingHookAbortsCreate(t *testing.T) {
	for _, kind := range []string{"createRuntime", "createContainer"} {
		t.Run(kind, func(t *testing.T) {
			r := newRuntime(t)
			h := hookRecorder{dir: hostDir(t)}
			marker := newID(t)
			fail := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "echo hook-says-no >&2; exit 7"}}
			bundle := newBundle(t, func(s *specs.Spec) {
				addMount(s, bindMount(h.dir, h.dir))
				s.Process.Args = []string{"sleep", "1000", marker}
				s.Hooks = &specs.Hooks{Poststop: []specs.Hook{h.hook("poststop")}}
				if kind == "createRuntime" {
					s.Hooks.CreateRuntime = []specs.Hook{fail}
				} else {
					s.Hooks.CreateContainer = []specs.Hook{fail}
				}
			})
			res := r.mustFail("create", "--bundle", bundle, marker)
			if res.stderr == "" {
				t.Errorf("no error message: %v", res)
			}
			assertNothingLeft(t, r, bundle, marker)
		})
	}
}
