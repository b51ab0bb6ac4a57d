package cgroups

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The v2 driver first turns linux.resources into a list of file writes (a
// pure function, tested on any host) and then performs them.

// fileWrite is one value written to one file of the container's cgroup.
type fileWrite struct {
	File  string
	Value string
	// AltFile/AltValue are written instead when File does not exist
	// (io.bfq.weight exists only with the BFQ scheduler; io.weight otherwise).
	AltFile, AltValue string
	// Optional writes are skipped when the file does not exist (hugetlb
	// reservation limits on kernels without them).
	Optional bool
}

// CPUSharesToWeight converts v1 cpu.shares [2, 262144] to v2 cpu.weight
// [1, 10000] linearly: weight = 1 + ((shares - 2) * 9999) / 262142.
// 0 means "not set" and stays 0.
func CPUSharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

// BlkioWeightToIOWeight converts v1 blkio.weight [10, 1000] to v2 io.weight
// [1, 10000]: weight = 1 + (blkio.weight - 10) * 9999 / 990. 0 stays 0.
func BlkioWeightToIOWeight(w uint64) uint64 {
	if w == 0 {
		return 0
	}
	w = min(max(w, 10), 1000)
	return 1 + (w-10)*9999/990
}

// SwapToV2 converts OCI's memory.swap, which like v1's memsw limit counts
// memory plus swap, into v2's memory.swap.max, which counts swap alone:
// swap - limit. -1 is unlimited and 0 "unchanged"; memory unlimited (-1)
// with swap unset means swap unlimited too, as v1 behaves.
func SwapToV2(swap, limit int64) (int64, error) {
	if limit == -1 && swap == 0 {
		return -1, nil
	}
	if swap == -1 || swap == 0 {
		return swap, nil
	}
	if limit <= 0 {
		return 0, errors.New("unable to set swap limit without memory limit")
	}
	if swap < limit {
		return 0, fmt.Errorf("memory+swap limit (%d) should be >= memory limit (%d)", swap, limit)
	}
	return swap - limit, nil
}

// CPUMax renders v2 cpu.max, "quota period" or "max period", from v1-style
// values in microseconds; the period defaults to 100000. "" when neither is
// set.
func CPUMax(quota int64, period uint64) string {
	if quota == 0 && period == 0 {
		return ""
	}
	if period == 0 {
		period = 100000
	}
	if quota <= 0 {
		return "max " + strconv.FormatUint(period, 10)
	}
	return strconv.FormatInt(quota, 10) + " " + strconv.FormatUint(period, 10)
}

func limitString(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// v2Plan lists the writes for r on cgroup v2. Devices are not files there
// (see devicefilter.go). Ignored because v2 has no equivalent: memory
// swappiness, disableOOMKiller, kernel and kernelTCP, blkio leaf weights,
// network classID/priorities. Realtime CPU limits are refused.
func v2Plan(r *specs.LinuxResources) ([]fileWrite, error) {
	var plan []fileWrite
	add := func(file, value string) { plan = append(plan, fileWrite{File: file, Value: value}) }

	if m := r.Memory; m != nil {
		var limit, swap int64
		if m.Limit != nil {
			limit = *m.Limit
		}
		if m.Swap != nil {
			swap = *m.Swap
		}
		swapMax, err := SwapToV2(swap, limit)
		if err != nil {
			return nil, err
		}
		// Without swap accounting the file is missing; "max" and "0" then
		// ask for nothing that needs enforcing, so they are optional.
		switch {
		case swapMax > 0:
			add("memory.swap.max", limitString(swapMax))
		case swapMax == -1:
			plan = append(plan, fileWrite{File: "memory.swap.max", Value: "max", Optional: true})
		case swap > 0:
			// swap == limit: no swap at all.
			plan = append(plan, fileWrite{File: "memory.swap.max", Value: "0", Optional: true})
		}
		if limit != 0 {
			add("memory.max", limitString(limit))
		}
		if m.Reservation != nil && *m.Reservation != 0 {
			add("memory.low", limitString(*m.Reservation))
		}
	}

	if c := r.CPU; c != nil {
		if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 || c.RealtimePeriod != nil && *c.RealtimePeriod != 0 {
			return nil, errors.New("realtime CPU limits (realtimeRuntime, realtimePeriod) are not supported on cgroup v2")
		}
		if c.Shares != nil && *c.Shares != 0 {
			add("cpu.weight", strconv.FormatUint(CPUSharesToWeight(*c.Shares), 10))
		}
		var quota int64
		var period uint64
		if c.Quota != nil {
			quota = *c.Quota
		}
		if c.Period != nil {
			period = *c.Period
		}
		if s := CPUMax(quota, period); s != "" {
			add("cpu.max", s)
		}
		if c.Burst != nil {
			add("cpu.max.burst", strconv.FormatUint(*c.Burst, 10))
		}
		if c.Idle != nil {
			add("cpu.idle", strconv.FormatInt(*c.Idle, 10))
		}
		if c.Cpus != "" {
			add("cpuset.cpus", c.Cpus)
		}
		if c.Mems != "" {
			add("cpuset.mems", c.Mems)
		}
	}

	if p := r.Pids; p != nil && p.Limit != nil {
		add("pids.max", pidsLimit(*p.Limit))
	}

	if b := r.BlockIO; b != nil {
		if b.Weight != nil && *b.Weight != 0 {
			w := uint64(*b.Weight)
			plan = append(plan, fileWrite{
				File: "io.bfq.weight", Value: strconv.FormatUint(w, 10),
				AltFile: "io.weight", AltValue: strconv.FormatUint(BlkioWeightToIOWeight(w), 10),
			})
		}
		for _, d := range b.WeightDevice {
			if d.Weight == nil {
				continue
			}
			w := uint64(*d.Weight)
			dev := fmt.Sprintf("%d:%d", d.Major, d.Minor)
			plan = append(plan, fileWrite{
				File: "io.bfq.weight", Value: fmt.Sprintf("%s %d", dev, w),
				AltFile: "io.weight", AltValue: fmt.Sprintf("%s %d", dev, BlkioWeightToIOWeight(w)),
			})
		}
		for _, t := range []struct {
			key  string
			devs []specs.LinuxThrottleDevice
		}{
			{"rbps", b.ThrottleReadBpsDevice},
			{"wbps", b.ThrottleWriteBpsDevice},
			{"riops", b.ThrottleReadIOPSDevice},
			{"wiops", b.ThrottleWriteIOPSDevice},
		} {
			for _, d := range t.devs {
				rate := "max"
				if d.Rate != 0 {
					rate = strconv.FormatUint(d.Rate, 10)
				}
				add("io.max", fmt.Sprintf("%d:%d %s=%s", d.Major, d.Minor, t.key, rate))
			}
		}
	}

	plan = append(plan, v2HugetlbPlan(r.HugepageLimits)...)
	plan = append(plan, rdmaPlan(r.Rdma)...)

	unified, err := unifiedPlan(r.Unified)
	if err != nil {
		return nil, err
	}
	// Last, so explicit unified keys override the converted values.
	return append(plan, unified...), nil
}

// pidsLimit: OCI's 0 and negative limits mean "no limit".
func pidsLimit(limit int64) string {
	if limit <= 0 {
		return "max"
	}
	return strconv.FormatInt(limit, 10)
}

// v2HugetlbPlan writes the usage limit and, where the kernel has it, the
// reservation limit (the spec asks for reservations when supported).
func v2HugetlbPlan(limits []specs.LinuxHugepageLimit) []fileWrite {
	var plan []fileWrite
	for _, l := range limits {
		v := strconv.FormatUint(l.Limit, 10)
		plan = append(plan,
			fileWrite{File: "hugetlb." + l.Pagesize + ".max", Value: v},
			fileWrite{File: "hugetlb." + l.Pagesize + ".rsvd.max", Value: v, Optional: true})
	}
	return plan
}

// rdmaPlan renders rdma.max lines (same format on v1 and v2).
func rdmaPlan(rdma map[string]specs.LinuxRdma) []fileWrite {
	devs := make([]string, 0, len(rdma))
	for d := range rdma {
		devs = append(devs, d)
	}
	sort.Strings(devs)
	var plan []fileWrite
	for _, d := range devs {
		l := rdma[d]
		line := d
		if l.HcaHandles != nil {
			line += " hca_handle=" + strconv.FormatUint(uint64(*l.HcaHandles), 10)
		}
		if l.HcaObjects != nil {
			line += " hca_object=" + strconv.FormatUint(uint64(*l.HcaObjects), 10)
		}
		if line != d {
			plan = append(plan, fileWrite{File: "rdma.max", Value: line})
		}
	}
	return plan
}

// unifiedPlan validates linux.resources.unified: each key names a file in
// the container's own cgroup directory, nothing else.
func unifiedPlan(unified map[string]string) ([]fileWrite, error) {
	keys := make([]string, 0, len(unified))
	for k := range unified {
		if k == "" || k == "." || strings.Contains(k, "/") || strings.Contains(k, "..") {
			return nil, fmt.Errorf("invalid unified resource key %q", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var plan []fileWrite
	for _, k := range keys {
		plan = append(plan, fileWrite{File: k, Value: unified[k]})
	}
	return plan, nil
}
