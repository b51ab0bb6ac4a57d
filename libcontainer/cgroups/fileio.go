package cgroups

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// writeFile writes one value to a cgroup control file. Control files take
// a single write; O_TRUNC/O_CREAT would be meaningless on cgroupfs.
func writeFile(dir, name, value string) error {
	path := filepath.Join(dir, name)
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	for {
		_, err = unix.Write(fd, []byte(value))
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

func readFile(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	return strings.TrimSpace(string(b)), err
}

// readUint reads a single number; "max" (v2) and "-1" read as MaxUint64.
func readUint(dir, name string) (uint64, error) {
	s, err := readFile(dir, name)
	if err != nil {
		return 0, err
	}
	return parseUint(s)
}

func parseUint(s string) (uint64, error) {
	if s == "max" || s == "-1" {
		return math.MaxUint64, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		// Negative values from v1 (e.g. -1 quota) mean "no limit".
		if i, ierr := strconv.ParseInt(s, 10, 64); ierr == nil && i < 0 {
			return 0, nil
		}
		return 0, err
	}
	return v, nil
}

// readKeyValues parses "key value" lines (memory.stat, cpu.stat, ...).
func readKeyValues(dir, name string) (map[string]uint64, error) {
	s, err := readFile(dir, name)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if v, err := parseUint(f[1]); err == nil {
			out[f[0]] = v
		}
	}
	return out, nil
}

// readPidsRecursive reads cgroup.procs of dir and of every descendant.
func readPidsRecursive(dir string) ([]int, error) {
	var pids []int
	seen := map[int]bool{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			// A child cgroup removed while walking is not an error.
			if errors.Is(err, os.ErrNotExist) && path != dir {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		s, err := readFile(path, "cgroup.procs")
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && path != dir {
				return nil
			}
			return err
		}
		for _, f := range strings.Fields(s) {
			if p, err := strconv.Atoi(f); err == nil && !seen[p] {
				seen[p] = true
				pids = append(pids, p)
			}
		}
		return nil
	})
	return pids, err
}

// removeCgroup removes dir and its child cgroups, deepest first. rmdir is
// the only way to remove a cgroup (its files cannot be unlinked). EBUSY
// right after the last process exited is normal while the kernel finishes
// the exit, so it retries for a short while.
func removeCgroup(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeCgroup(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	delay := time.Millisecond
	for attempt := 0; ; attempt++ {
		err := unix.Rmdir(dir)
		switch {
		case err == nil || err == unix.ENOENT:
			return nil
		case err == unix.EBUSY && attempt < 12:
			time.Sleep(delay)
			if delay < 100*time.Millisecond {
				delay *= 2
			}
		default:
			return &os.PathError{Op: "rmdir", Path: dir, Err: err}
		}
	}
}

// waitFor polls check until it returns true or the deadline passes.
func waitFor(timeout time.Duration, check func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	delay := 100 * time.Microsecond
	for {
		ok, err := check()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return errTimeout
		}
		time.Sleep(delay)
		if delay < 10*time.Millisecond {
			delay *= 2
		}
	}
}

var errTimeout = errors.New("timed out")

// hugePageSizes lists the host's huge page sizes in cgroup file form
// ("2MB", "1GB"), from /sys/kernel/mm/hugepages/hugepages-<N>kB.
func hugePageSizes() []string {
	entries, _ := os.ReadDir("/sys/kernel/mm/hugepages")
	var sizes []string
	for _, e := range entries {
		kb, ok := strings.CutPrefix(e.Name(), "hugepages-")
		if !ok {
			continue
		}
		kb, ok = strings.CutSuffix(kb, "kB")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(kb, 10, 64)
		if err != nil {
			continue
		}
		sizes = append(sizes, hugePageName(n*1024))
	}
	return sizes
}

// hugePageName renders a size the way the hugetlb controller names its
// files: the largest unit that divides it exactly (2MB, 1GB, 64KB).
func hugePageName(bytes uint64) string {
	units := []string{"B", "KB", "MB", "GB", "TB", "PB"}
	i := 0
	for bytes >= 1024 && bytes%1024 == 0 && i < len(units)-1 {
		bytes /= 1024
		i++
	}
	return strconv.FormatUint(bytes, 10) + units[i]
}
