package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli"

	"github.com/rootlet/rootlet/libcontainer"
)

var pauseCommand = cli.Command{
	Name:      "pause",
	Usage:     "pause suspends all processes inside the container",
	ArgsUsage: "<container-id>",
	Action:    containerAction((*libcontainer.Container).Pause),
}

var resumeCommand = cli.Command{
	Name:      "resume",
	Usage:     "resumes all processes that have been previously paused",
	ArgsUsage: "<container-id>",
	Action:    containerAction((*libcontainer.Container).Resume),
}

var psCommand = cli.Command{
	Name:      "ps",
	Usage:     "ps displays the processes running inside a container",
	ArgsUsage: "<container-id> [ps options]",
	Flags: []cli.Flag{
		cli.StringFlag{Name: "format, f", Value: "table", Usage: `select one of: table or json (default: "table")`},
	},
	SkipArgReorder: true,
	Action: func(c *cli.Context) error {
		ctr, err := loadContainer(c)
		if err != nil {
			return err
		}
		pids, err := ctr.Processes()
		if err != nil {
			return err
		}
		switch c.String("format") {
		case "json":
			if pids == nil {
				pids = []int{}
			}
			return json.NewEncoder(os.Stdout).Encode(pids)
		case "table":
		default:
			return fmt.Errorf("invalid format option")
		}
		// Like runc: the host's ps output, filtered to the container's pids.
		psArgs := c.Args().Tail()
		if len(psArgs) == 0 {
			psArgs = []string{"-ef"}
		}
		out, err := exec.Command("ps", psArgs...).Output()
		if err != nil {
			return fmt.Errorf("ps: %w", err)
		}
		lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
		pidCol := -1
		for i, h := range strings.Fields(lines[0]) {
			if h == "PID" {
				pidCol = i
			}
		}
		if pidCol < 0 {
			return fmt.Errorf("couldn't find PID field in ps output")
		}
		in := map[int]bool{}
		for _, p := range pids {
			in[p] = true
		}
		fmt.Println(lines[0])
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if len(f) > pidCol {
				if p, err := strconv.Atoi(f[pidCol]); err == nil && in[p] {
					fmt.Println(l)
				}
			}
		}
		return nil
	},
}

var updateCommand = cli.Command{
	Name:      "update",
	Usage:     "update container resource constraints",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		cli.StringFlag{Name: "resources, r", Usage: "path to a file containing the resources to update or '-' to read from stdin"},
		cli.StringFlag{Name: "blkio-weight", Usage: "specifies per cgroup weight, range is from 10 to 1000"},
		cli.StringFlag{Name: "cpu-period", Usage: "CPU CFS period to be used for hardcapping (in usecs). 0 to use system default"},
		cli.StringFlag{Name: "cpu-quota", Usage: "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period"},
		cli.StringFlag{Name: "cpu-share", Usage: "CPU shares (relative weight vs. other containers)"},
		cli.StringFlag{Name: "cpu-rt-period", Usage: "CPU realtime period to be used for hardcapping (in usecs)"},
		cli.StringFlag{Name: "cpu-rt-runtime", Usage: "CPU realtime hardcap limit (in usecs)"},
		cli.StringFlag{Name: "cpuset-cpus", Usage: "CPU(s) to use"},
		cli.StringFlag{Name: "cpuset-mems", Usage: "Memory node(s) to use"},
		cli.StringFlag{Name: "memory", Usage: "Memory limit (in bytes)"},
		cli.StringFlag{Name: "memory-reservation", Usage: "Memory reservation or soft_limit (in bytes)"},
		cli.StringFlag{Name: "memory-swap", Usage: "Total memory usage (memory + swap); set '-1' to enable unlimited swap"},
		cli.StringFlag{Name: "kernel-memory", Hidden: true},
		cli.StringFlag{Name: "kernel-memory-tcp", Hidden: true},
		cli.IntFlag{Name: "pids-limit", Usage: "Maximum number of pids allowed in the container"},
		cli.StringFlag{Name: "l3-cache-schema", Hidden: true},
		cli.StringFlag{Name: "mem-bw-schema", Hidden: true},
	},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1); err != nil {
			return err
		}
		ctr, err := loadContainer(c)
		if err != nil {
			return err
		}
		r, err := resourcesFromFlags(c)
		if err != nil {
			return err
		}
		return ctr.Update(r)
	},
}

// resourcesFromFlags builds the update: the --resources JSON (as containerd
// and Podman send it) first, individual flags on top.
func resourcesFromFlags(c *cli.Context) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	if path := c.String("resources"); path != "" {
		var data []byte
		var err error
		if path == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(path)
		}
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(data, r); err != nil {
			return nil, fmt.Errorf("decode resources: %w", err)
		}
	}
	var perr error
	u64 := func(name string) *uint64 {
		v := c.String(name)
		if v == "" || perr != nil {
			return nil
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			perr = fmt.Errorf("invalid value for %s: %s", name, v)
			return nil
		}
		return &n
	}
	i64 := func(name string, bytes bool) *int64 {
		v := c.String(name)
		if v == "" || perr != nil {
			return nil
		}
		var n int64
		var err error
		if bytes {
			n, err = parseBytes(v)
		} else {
			n, err = strconv.ParseInt(v, 10, 64)
		}
		if err != nil {
			perr = fmt.Errorf("invalid value for %s: %s", name, v)
			return nil
		}
		return &n
	}
	if w := u64("blkio-weight"); w != nil {
		r.BlockIO = &specs.LinuxBlockIO{Weight: ptr(uint16(*w))}
	}
	cpu := specs.LinuxCPU{
		Period:          u64("cpu-period"),
		Quota:           i64("cpu-quota", false),
		Shares:          u64("cpu-share"),
		RealtimePeriod:  u64("cpu-rt-period"),
		RealtimeRuntime: i64("cpu-rt-runtime", false),
		Cpus:            c.String("cpuset-cpus"),
		Mems:            c.String("cpuset-mems"),
	}
	if cpu != (specs.LinuxCPU{}) {
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		mergeCPU(r.CPU, &cpu)
	}
	mem := specs.LinuxMemory{
		Limit:       i64("memory", true),
		Reservation: i64("memory-reservation", true),
		Swap:        i64("memory-swap", true),
	}
	if mem.Limit != nil || mem.Reservation != nil || mem.Swap != nil {
		if r.Memory == nil {
			r.Memory = &specs.LinuxMemory{}
		}
		if mem.Limit != nil {
			r.Memory.Limit = mem.Limit
		}
		if mem.Reservation != nil {
			r.Memory.Reservation = mem.Reservation
		}
		if mem.Swap != nil {
			r.Memory.Swap = mem.Swap
		}
	}
	if c.IsSet("pids-limit") {
		r.Pids = &specs.LinuxPids{Limit: ptr(int64(c.Int("pids-limit")))}
	}
	return r, perr
}

func mergeCPU(dst, src *specs.LinuxCPU) {
	if src.Period != nil {
		dst.Period = src.Period
	}
	if src.Quota != nil {
		dst.Quota = src.Quota
	}
	if src.Shares != nil {
		dst.Shares = src.Shares
	}
	if src.RealtimePeriod != nil {
		dst.RealtimePeriod = src.RealtimePeriod
	}
	if src.RealtimeRuntime != nil {
		dst.RealtimeRuntime = src.RealtimeRuntime
	}
	if src.Cpus != "" {
		dst.Cpus = src.Cpus
	}
	if src.Mems != "" {
		dst.Mems = src.Mems
	}
}

// parseBytes accepts plain bytes or a k/m/g suffix (binary units), and -1.
func parseBytes(s string) (int64, error) {
	mult := int64(1)
	ls := strings.ToLower(strings.TrimSuffix(strings.ToLower(s), "b"))
	switch {
	case strings.HasSuffix(ls, "k"):
		mult, ls = 1<<10, ls[:len(ls)-1]
	case strings.HasSuffix(ls, "m"):
		mult, ls = 1<<20, ls[:len(ls)-1]
	case strings.HasSuffix(ls, "g"):
		mult, ls = 1<<30, ls[:len(ls)-1]
	}
	n, err := strconv.ParseInt(ls, 10, 64)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return n, nil
	}
	return n * mult, nil
}

func ptr[T any](v T) *T { return &v }

// event is one line of `events`.
type event struct {
	Type string      `json:"type"`
	ID   string      `json:"id"`
	Data interface{} `json:"data,omitempty"`
}

var eventsCommand = cli.Command{
	Name:      "events",
	Usage:     "display container events such as OOM notifications, cpu, memory, and IO usage statistics",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		cli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "set the stats collection interval"},
		cli.BoolFlag{Name: "stats", Usage: "display the container's stats then exit"},
	},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1); err != nil {
			return err
		}
		ctr, err := loadContainer(c)
		if err != nil {
			return err
		}
		if ctr.Status() == "stopped" {
			return fmt.Errorf("container with id %s is not running", ctr.ID())
		}
		enc := json.NewEncoder(os.Stdout)
		emitStats := func() error {
			s, err := ctr.Stats()
			if err != nil {
				return err
			}
			return enc.Encode(event{Type: "stats", ID: ctr.ID(), Data: s})
		}
		if c.Bool("stats") {
			return emitStats()
		}
		interval := c.Duration("interval")
		if interval <= 0 {
			return fmt.Errorf("duration interval must be greater than 0")
		}
		lastOOM, _ := ctr.OOMKillCount()
		statsTick := time.NewTicker(interval)
		defer statsTick.Stop()
		// OOM kills are polled: cheap, and works for v1 and v2 alike.
		oomTick := time.NewTicker(200 * time.Millisecond)
		defer oomTick.Stop()
		for {
			select {
			case <-statsTick.C:
				if ctr.Status() == "stopped" {
					return nil
				}
				if err := emitStats(); err != nil {
					return err
				}
			case <-oomTick.C:
				if n, err := ctr.OOMKillCount(); err == nil && n > lastOOM {
					lastOOM = n
					enc.Encode(event{Type: "oom", ID: ctr.ID()})
				}
				if ctr.Status() == "stopped" {
					return nil
				}
			}
		}
	},
}
