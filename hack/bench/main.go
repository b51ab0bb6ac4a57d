// Command bench measures rootlet against runc and crun in one run, on the
// same bundle and machine, and prints medians and ratios (`make bench`).
//
// It must run as root inside a private mount namespace in which the hybrid
// host's /sys/fs/cgroup/unified is unmounted, because crun 1.8 refuses
// hybrid hosts (see DESIGN.md); hack/bench.sh sets that up. All runtimes see
// the same environment.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

type runtime struct {
	name string
	bin  string
	root string
}

type result struct {
	run, lifecycle, exec, state10, stateN, list10, listN time.Duration
	rssKB                                                int64
	floor                                                int64
	size                                                 int64
}

var (
	iterations = flag.Int("n", 50, "iterations per measurement")
	many       = flag.Int("containers", 500, "containers present for the state/list measurement")
	bundleDir  = flag.String("bundle", "", "busybox bundle (from hack/mkbundle.sh)")
	outDir     = flag.String("out", "bench/results", "directory for the results file")
	bins       = flag.String("runtimes", "rootlet=bin/rootlet,runc=runc,crun=crun", "name=binary,...")
)

func main() {
	flag.Parse()
	if *bundleDir == "" {
		fatal("need -bundle")
	}
	work, err := os.MkdirTemp("", "rootlet-bench-")
	check(err)
	defer os.RemoveAll(work)

	var rts []runtime
	for _, kv := range strings.Split(*bins, ",") {
		name, bin, _ := strings.Cut(kv, "=")
		path, err := exec.LookPath(bin)
		if err != nil {
			fmt.Fprintf(os.Stderr, "skipping %s: %v\n", name, err)
			continue
		}
		abs, _ := filepath.Abs(path)
		rts = append(rts, runtime{name: name, bin: abs, root: filepath.Join(work, "root-"+name)})
	}
	bTrue := makeBundle(work, "true", []string{"/bin/true"}, nil)
	bSleep := makeBundle(work, "sleep", []string{"/bin/sleep", "100000"}, nil)

	results := map[string]*result{}
	for _, rt := range rts {
		fmt.Fprintf(os.Stderr, "measuring %s...\n", rt.name)
		r := &result{}
		r.run, r.rssKB = measureRun(rt, bTrue)
		r.lifecycle = measureLifecycle(rt, bTrue)
		r.exec = measureExec(rt, bSleep)
		r.state10, r.list10 = measureStateList(rt, bSleep, 10)
		r.stateN, r.listN = measureStateList(rt, bSleep, *many)
		r.floor = memoryFloor(rt, work)
		if st, err := os.Stat(rt.bin); err == nil {
			r.size = st.Size()
		}
		results[rt.name] = r
	}
	floor := measureFloor()
	report(rts, results, floor)
}

func makeBundle(work, name string, args []string, edit func(*specs.Spec)) string {
	dir := filepath.Join(work, "bundle-"+name)
	check(os.MkdirAll(dir, 0o755))
	data, err := os.ReadFile(filepath.Join(*bundleDir, "config.json"))
	check(err)
	var spec specs.Spec
	check(json.Unmarshal(data, &spec))
	rootfs, _ := filepath.Abs(filepath.Join(*bundleDir, spec.Root.Path))
	spec.Root.Path = rootfs
	spec.Root.Readonly = true
	spec.Process.Terminal = false
	spec.Process.Args = args
	if edit != nil {
		edit(&spec)
	}
	out, err := json.MarshalIndent(&spec, "", "  ")
	check(err)
	check(os.WriteFile(filepath.Join(dir, "config.json"), out, 0o644))
	return dir
}

var seq int

func nextID(prefix string) string {
	seq++
	return fmt.Sprintf("%s%d", prefix, seq)
}

// call runs the runtime once and returns the wall time and peak RSS (KiB) of
// the runtime process tree it waited for.
func call(rt runtime, args ...string) (time.Duration, int64, error) {
	cmd := exec.Command(rt.bin, append([]string{"--root", rt.root}, args...)...)
	// No pipes: a created container keeps the runtime's stdio open, and
	// waiting for a pipe's EOF would hang. nil means /dev/null.
	cmd.Stdout, cmd.Stderr = nil, nil
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	var rss int64
	if cmd.ProcessState != nil {
		rss = cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	}
	return d, rss, err
}

func mustCall(rt runtime, args ...string) time.Duration {
	d, _, err := call(rt, args...)
	if err != nil {
		fatal(fmt.Sprintf("%s %v: %v", rt.name, args, err))
	}
	return d
}

func measureRun(rt runtime, bundle string) (time.Duration, int64) {
	var ts []time.Duration
	var rss []int64
	for i := 0; i < *iterations; i++ {
		d, r, err := call(rt, "run", "--bundle", bundle, nextID("r"))
		if err != nil {
			fatal(fmt.Sprintf("%s run: %v", rt.name, err))
		}
		ts = append(ts, d)
		rss = append(rss, r)
	}
	sort.Slice(rss, func(i, j int) bool { return rss[i] < rss[j] })
	return median(ts), rss[len(rss)/2]
}

func measureLifecycle(rt runtime, bundle string) time.Duration {
	var ts []time.Duration
	for i := 0; i < *iterations; i++ {
		id := nextID("l")
		d := mustCall(rt, "create", "--bundle", bundle, id)
		d += mustCall(rt, "start", id)
		d += mustCall(rt, "delete", "--force", id)
		ts = append(ts, d)
	}
	return median(ts)
}

func measureExec(rt runtime, bundle string) time.Duration {
	id := nextID("e")
	mustCall(rt, "run", "--detach", "--bundle", bundle, id)
	defer call(rt, "delete", "--force", id)
	var ts []time.Duration
	for i := 0; i < *iterations; i++ {
		ts = append(ts, mustCall(rt, "exec", id, "/bin/true"))
	}
	return median(ts)
}

func measureStateList(rt runtime, bundle string, count int) (time.Duration, time.Duration) {
	var ids []string
	for i := 0; i < count; i++ {
		id := nextID("s")
		mustCall(rt, "create", "--bundle", bundle, id)
		ids = append(ids, id)
	}
	defer func() {
		for _, id := range ids {
			call(rt, "delete", "--force", id)
		}
	}()
	var st, ls []time.Duration
	for i := 0; i < 20; i++ {
		st = append(st, mustCall(rt, "state", ids[i%len(ids)]))
		ls = append(ls, mustCall(rt, "list"))
	}
	return median(st), median(ls)
}

// memoryFloor finds the smallest memory limit (bytes, 64 KiB steps) under
// which `run /bin/true` succeeds.
func memoryFloor(rt runtime, work string) int64 {
	ok := func(limit int64) bool {
		b := makeBundle(work, fmt.Sprintf("mem-%s-%d", rt.name, limit), []string{"/bin/true"}, func(s *specs.Spec) {
			if s.Linux.Resources == nil {
				s.Linux.Resources = &specs.LinuxResources{}
			}
			s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
		})
		defer os.RemoveAll(b)
		id := nextID("m")
		_, _, err := call(rt, "run", "--bundle", b, id)
		call(rt, "delete", "--force", id)
		return err == nil
	}
	lo, hi := int64(64<<10), int64(64<<20) // lo fails or is the answer, hi works
	if !ok(hi) {
		return -1
	}
	if ok(lo) {
		return lo
	}
	for hi-lo > 64<<10 {
		mid := (lo + hi) / 2 &^ (64<<10 - 1)
		if mid <= lo {
			break
		}
		if ok(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// measureFloor times a bare unshare with the same namespaces: the cost no
// runtime can go below.
func measureFloor() time.Duration {
	var ts []time.Duration
	for i := 0; i < *iterations; i++ {
		cmd := exec.Command("unshare", "-m", "-p", "-f", "-n", "-i", "-u", "/bin/true")
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return 0
		}
		ts = append(ts, time.Since(start))
	}
	return median(ts)
}

func median(ts []time.Duration) time.Duration {
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	return ts[len(ts)/2]
}

func report(rts []runtime, res map[string]*result, floor time.Duration) {
	var sb strings.Builder
	host, _ := os.Hostname()
	var uts syscall.Utsname
	syscall.Uname(&uts)
	rel := func(a [65]int8) string {
		var b []byte
		for _, c := range a {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		return string(b)
	}
	fmt.Fprintf(&sb, "# rootlet bench %s on %s, kernel %s, %d iterations, %d containers for state/list\n",
		time.Now().UTC().Format(time.RFC3339), host, rel(uts.Release), *iterations, *many)
	for _, rt := range rts {
		out, _ := exec.Command(rt.bin, "--version").Output()
		fmt.Fprintf(&sb, "# %s: %s\n", rt.name, strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0])
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
	rows := []struct {
		name string
		get  func(*result) string
		val  func(*result) float64
	}{
		{"run /bin/true", func(r *result) string { return ms(r.run) }, func(r *result) float64 { return float64(r.run) }},
		{"create+start+delete", func(r *result) string { return ms(r.lifecycle) }, func(r *result) float64 { return float64(r.lifecycle) }},
		{"exec /bin/true", func(r *result) string { return ms(r.exec) }, func(r *result) float64 { return float64(r.exec) }},
		{"state (10 ctrs)", func(r *result) string { return ms(r.state10) }, func(r *result) float64 { return float64(r.state10) }},
		{fmt.Sprintf("state (%d ctrs)", *many), func(r *result) string { return ms(r.stateN) }, func(r *result) float64 { return float64(r.stateN) }},
		{"list (10 ctrs)", func(r *result) string { return ms(r.list10) }, func(r *result) float64 { return float64(r.list10) }},
		{fmt.Sprintf("list (%d ctrs)", *many), func(r *result) string { return ms(r.listN) }, func(r *result) float64 { return float64(r.listN) }},
		{"peak RSS of run", func(r *result) string { return fmt.Sprintf("%d KiB", r.rssKB) }, func(r *result) float64 { return float64(r.rssKB) }},
		{"memory floor", func(r *result) string { return fmt.Sprintf("%d KiB", r.floor/1024) }, func(r *result) float64 { return float64(r.floor) }},
		{"binary size", func(r *result) string { return fmt.Sprintf("%.1f MiB", float64(r.size)/(1<<20)) }, func(r *result) float64 { return float64(r.size) }},
	}
	fmt.Fprintf(&sb, "\n| measure (median) |")
	for _, rt := range rts {
		fmt.Fprintf(&sb, " %s |", rt.name)
	}
	_, haveCrun := res["crun"]
	_, haveRunc := res["runc"]
	if haveCrun {
		sb.WriteString(" rootlet/crun |")
	}
	if haveRunc {
		sb.WriteString(" rootlet/runc |")
	}
	sb.WriteString("\n|---|")
	for range rts {
		sb.WriteString("---|")
	}
	if haveCrun {
		sb.WriteString("---|")
	}
	if haveRunc {
		sb.WriteString("---|")
	}
	sb.WriteString("\n")
	for _, row := range rows {
		fmt.Fprintf(&sb, "| %s |", row.name)
		for _, rt := range rts {
			fmt.Fprintf(&sb, " %s |", row.get(res[rt.name]))
		}
		if me, ok := res["rootlet"]; ok {
			for _, other := range []string{"crun", "runc"} {
				if o, ok := res[other]; ok {
					fmt.Fprintf(&sb, " %.2fx |", row.val(me)/row.val(o))
				}
			}
		}
		sb.WriteString("\n")
	}
	fmt.Fprintf(&sb, "\nfloor: bare `unshare -m -p -f -n -i -u /bin/true`: %s\n", ms(floor))
	fmt.Print(sb.String())
	check(os.MkdirAll(*outDir, 0o755))
	name := filepath.Join(*outDir, time.Now().UTC().Format("20060102-150405")+".md")
	check(os.WriteFile(name, []byte(sb.String()), 0o644))
	fmt.Fprintf(os.Stderr, "results written to %s\n", name)
}

func check(err error) {
	if err != nil {
		fatal(err.Error())
	}
}

func fatal(msg string) {
	fmt.Fprintln(os.Stderr, "bench:", msg)
	os.Exit(1)
}
