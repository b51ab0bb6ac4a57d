package signals

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want unix.Signal
	}{
		{"9", unix.SIGKILL},
		{"0", 0},
		{"15", unix.SIGTERM},
		{"64", 64},
		{"KILL", unix.SIGKILL},
		{"SIGKILL", unix.SIGKILL},
		{"kill", unix.SIGKILL},
		{"sigkill", unix.SIGKILL},
		{"SigTerm", unix.SIGTERM},
		{"HUP", unix.SIGHUP},
		{"USR1", unix.SIGUSR1},
		{"SIGWINCH", unix.SIGWINCH},
		{"SIGSYS", unix.SIGSYS},
		{"IOT", unix.SIGABRT},
		{"SIGCLD", unix.SIGCHLD},
		{"poll", unix.SIGIO},
		{"RTMIN", 34},
		{"SIGRTMIN+3", 37},
		{"rtmin+30", 64},
		{"SIGRTMAX", 64},
		{"RTMAX-2", 62},
		{"SIGRTMAX-30", 34},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Parse(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"", "FOO", "SIG", "SIGFOO", "-1", "65", "99999999999999999999",
		"KILL9", "SIGRTMIN-1", "SIGRTMAX+1", "RTMIN+31", "RTMAX-31", "RTMIN+", "RTMIN+x", "RTMIN++1",
	} {
		sig, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%q) = %d, want an error", in, sig)
			continue
		}
		if want := `unknown signal "` + in + `"`; err.Error() != want {
			t.Errorf("Parse(%q) error = %q, want %q", in, err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"9", "KILL", "sigterm", "RTMIN+3", "RTMAX-1", "FOO", "-1", "+7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := Parse(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "unknown signal ") {
				t.Fatalf("Parse(%q): unexpected error %q", s, err)
			}
			return
		}
		if sig < 0 || sig > sigRTMax {
			t.Fatalf("Parse(%q) = %d, outside 0..%d", s, sig, sigRTMax)
		}
	})
}
