// Package state keeps each container's persistent record under the runtime
// root: one directory per container holding state.json (written atomically)
// and the exec fifo; a flock on the directory serialises commands on it.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ErrNotExist is returned for an id with no container directory. Its text is
// what containerd and Podman look for.
var ErrNotExist = errors.New("container does not exist")

// State is what the runtime remembers about one container between commands.
type State struct {
	ID      string `json:"id"`
	Bundle  string `json:"bundle"`
	Rootfs  string `json:"rootfs"`
	InitPid int    `json:"init_pid"`
	// InitStartTime (field 22 of /proc/pid/stat) tells our init apart from
	// an unrelated process that later got the same pid.
	InitStartTime uint64            `json:"init_start_time"`
	Created       time.Time         `json:"created"`
	Owner         string            `json:"owner"`
	Annotations   map[string]string `json:"annotations,omitempty"`
	// Config is the validated spec as it was at create: hooks for start and
	// delete, namespaces and process defaults for exec. It is kept in its own
	// file (config.json) and read only by the commands that need it, so that
	// `state` and `list` stay cheap however big the spec is.
	Config *specs.Spec `json:"-"`
	// CgroupPaths maps a controller ("" on cgroup v2) to the container's
	// cgroup directory.
	CgroupPaths map[string]string `json:"cgroup_paths,omitempty"`
	Rootless    bool              `json:"rootless,omitempty"`
}

// Store is the runtime root directory (--root).
type Store struct {
	Root string
}

const (
	stateFile  = "state.json"
	configFile = "config.json"
	// FifoName is the exec fifo: init blocks opening it until `start`.
	FifoName = "exec.fifo"
)

// Dir is the container's directory.
func (s *Store) Dir(id string) string { return filepath.Join(s.Root, id) }

// FifoPath is the container's exec fifo.
func (s *Store) FifoPath(id string) string { return filepath.Join(s.Root, id, FifoName) }

// Handle is an open, locked container directory.
type Handle struct {
	ID   string
	Dir  string
	lock *os.File
}

// Unlock releases the container's lock.
func (h *Handle) Unlock() {
	if h.lock != nil {
		h.lock.Close()
		h.lock = nil
	}
}

// Create makes and locks the directory of a new container, failing when the
// id is taken.
func (s *Store) Create(id string) (*Handle, error) {
	if err := os.MkdirAll(s.Root, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create root directory %s: %w", s.Root, err)
	}
	dir := s.Dir(id)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("container with id exists: %s", id)
		}
		return nil, err
	}
	return lockDir(id, dir)
}

// plausibleID rejects ids that would name a path outside the root; create
// validates ids fully, this only guards lookups.
func plausibleID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsRune(id, '/')
}

// Open locks an existing container's directory.
func (s *Store) Open(id string) (*Handle, error) {
	if !plausibleID(id) {
		return nil, ErrNotExist
	}
	dir := s.Dir(id)
	h, err := lockDir(id, dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotExist
	}
	return h, err
}

func lockDir(id, dir string) (*Handle, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	// Deleted by someone else while we waited for the lock.
	if _, err := os.Stat(dir); err != nil {
		f.Close()
		return nil, err
	}
	return &Handle{ID: id, Dir: dir, lock: f}, nil
}

// Load reads a container's state without taking its lock (state.json is
// replaced atomically, so readers always see a whole file).
func (s *Store) Load(id string) (*State, error) {
	if !plausibleID(id) {
		return nil, ErrNotExist
	}
	data, err := os.ReadFile(filepath.Join(s.Dir(id), stateFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNotExist
		}
		return nil, err
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("corrupt state of container %s: %w", id, err)
	}
	return &st, nil
}

// LoadConfig reads the spec saved with a container's state.
func (s *Store) LoadConfig(id string) (*specs.Spec, error) {
	if !plausibleID(id) {
		return nil, ErrNotExist
	}
	data, err := os.ReadFile(filepath.Join(s.Dir(id), configFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNotExist
		}
		return nil, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("corrupt config of container %s: %w", id, err)
	}
	return &spec, nil
}

// Save writes config.json (when st.Config is set) and then state.json, each
// atomically (temporary file, fsync-free rename: the state lives on tmpfs
// under /run). state.json last: a listed container always has its config.
func (h *Handle) Save(st *State) error {
	if st.Config != nil {
		data, err := json.Marshal(st.Config)
		if err != nil {
			return err
		}
		if err := h.writeAtomic(configFile, data); err != nil {
			return err
		}
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return h.writeAtomic(stateFile, data)
}

func (h *Handle) writeAtomic(name string, data []byte) error {
	tmp, err := os.CreateTemp(h.Dir, ".state-")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(h.Dir, name))
}

// Remove deletes the container's directory and releases the lock.
func (h *Handle) Remove() error {
	err := os.RemoveAll(h.Dir)
	h.Unlock()
	return err
}

// List returns the ids of all containers with a saved state, sorted.
func (s *Store) List() ([]string, error) {
	entries, err := os.ReadDir(s.Root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.Root, e.Name(), stateFile)); err == nil {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}
