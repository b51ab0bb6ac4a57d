// Package trace prints timestamps of start-up stages when ROOTLET_TRACE is
// set, to find where container start time goes without strace's overhead.
// The init inherits the setting through its config, not its environment.
package trace

import (
	"fmt"
	"os"
	"time"
)

// Enabled is read once; the cost when off is one branch per mark.
var Enabled = os.Getenv("ROOTLET_TRACE") != ""

// Mark prints "trace <unix µs> <pid> <stage>" to stderr.
func Mark(stage string) {
	if Enabled {
		fmt.Fprintf(os.Stderr, "trace %d %d %s\n", time.Now().UnixMicro(), os.Getpid(), stage)
	}
}
