// Package protocol defines the typed messages between the runtime (parent)
// and the container init (child) after the nsenter bootstrap: one JSON value
// per message on the init socket, in both directions.
package protocol

import specs "github.com/opencontainers/runtime-spec/specs-go"

// Mode says what the init process is for.
type Mode string

const (
	ModeCreate Mode = "create" // a new container: set up the rootfs
	ModeExec   Mode = "exec"   // an extra process in a running container
)

// InitConfig is the parent's first message to the init.
type InitConfig struct {
	Mode    Mode           `json:"mode"`
	Spec    *specs.Spec    `json:"spec"`
	Process *specs.Process `json:"process"`
	Rootfs  string         `json:"rootfs,omitempty"`
	NoPivot bool           `json:"no_pivot,omitempty"`
	// NoNewKeyring keeps the caller's session keyring.
	NoNewKeyring bool `json:"no_new_keyring,omitempty"`
	InUserNS     bool `json:"in_user_ns,omitempty"`
	NewUTS       bool `json:"new_uts,omitempty"`
	// PassFDs is how many fds from 3 up are the container's (preserve-fds
	// and LISTEN_FDS); everything above them is closed before execve.
	PassFDs int `json:"pass_fds"`
	// ConsoleFD is the connected --console-socket, FifoFD the O_PATH fd of
	// the exec fifo; -1 when absent.
	ConsoleFD int `json:"console_fd"`
	FifoFD    int `json:"fifo_fd"`
	// CgroupFDs are the container's cgroup.procs files, opened by the
	// parent. The init joins by writing to them only when its setup is
	// done, so the runtime's own memory is never charged to the container
	// (a container can start under a 1 MiB limit) and its limits do not
	// constrain the setup.
	CgroupFDs []int `json:"cgroup_fds,omitempty"`
	// CgroupTaskFDs are cgroup v1 "tasks" files: the init moves only its
	// own thread, the one that execs (the others die at execve).
	CgroupTaskFDs []int `json:"cgroup_task_fds,omitempty"`
	// CgroupNS: unshare the cgroup namespace right after joining, so its
	// root is the container's cgroup.
	CgroupNS bool `json:"cgroup_ns,omitempty"`
	// SyncHooks makes the init stop before pivot_root so the parent can run
	// prestart/createRuntime hooks.
	SyncHooks bool `json:"sync_hooks,omitempty"`
	// State is the container state handed to hooks the init runs itself.
	State *specs.State `json:"state,omitempty"`
}

// MsgType names a sync message.
type MsgType string

const (
	MsgHooks     MsgType = "hooks"      // child: mounts done, run prestart/createRuntime now
	MsgHooksDone MsgType = "hooks-done" // parent: go on
	MsgReady     MsgType = "ready"      // child: about to wait on the fifo (create) or execve (exec)
	MsgError     MsgType = "error"      // child: setup failed; Error says why
)

// Message is every message after InitConfig.
type Message struct {
	Type  MsgType `json:"type"`
	Error string  `json:"error,omitempty"`
	// ExecNotFound and ExecDenied classify an execve failure the way Podman
	// maps it to exit codes 127 and 126.
	Pid int `json:"pid,omitempty"`
}
