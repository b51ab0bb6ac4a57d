// Package signals parses signal names and numbers the way runc's kill does.
package signals

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The real-time signal range as user space sees it: glibc keeps the
// kernel's first two (32, 33) for its threads, so SIGRTMIN is 34, as in
// kill(1) and docker.
const (
	sigRTMin = 34
	sigRTMax = 64
)

// aliases are the second names some signals have; unix.SignalNum knows one
// name per number.
var aliases = map[string]unix.Signal{
	"SIGIOT":  unix.SIGABRT,
	"SIGCLD":  unix.SIGCHLD,
	"SIGPOLL": unix.SIGIO,
}

// Parse turns a signal argument into a signal. Like runc it takes a number
// ("9") or a name in any case with or without the SIG prefix ("KILL",
// "sigkill", "SIGKILL"). It also takes the real-time forms "RTMIN",
// "RTMIN+3", "RTMAX-2" and "RTMAX". Numbers outside 0..64 are refused here
// rather than passed on to fail in kill(2).
func Parse(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > sigRTMax {
			return -1, fmt.Errorf("unknown signal %q", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	if sig, ok := aliases[name]; ok {
		return sig, nil
	}
	if sig, ok := parseRealtime(name); ok {
		return sig, nil
	}
	return -1, fmt.Errorf("unknown signal %q", s)
}

// parseRealtime parses SIGRTMIN[+n] and SIGRTMAX[-n].
func parseRealtime(name string) (unix.Signal, bool) {
	base, rest, sign := 0, "", 1
	switch {
	case strings.HasPrefix(name, "SIGRTMIN"):
		base, rest = sigRTMin, name[len("SIGRTMIN"):]
	case strings.HasPrefix(name, "SIGRTMAX"):
		base, rest, sign = sigRTMax, name[len("SIGRTMAX"):], -1
	default:
		return 0, false
	}
	if rest == "" {
		return unix.Signal(base), true
	}
	// Only "+digits" after RTMIN and "-digits" after RTMAX.
	if (sign == 1 && rest[0] != '+') || (sign == -1 && rest[0] != '-') {
		return 0, false
	}
	digits := rest[1:]
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, false
	}
	off, err := strconv.Atoi(digits)
	if err != nil || off > sigRTMax-sigRTMin {
		return 0, false
	}
	return unix.Signal(base + sign*off), true
}
