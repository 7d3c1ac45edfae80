//go:build linux

package jobs

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time the process used so far (all threads, GC
// included): benchmarks report it beside wall time because the machines we
// share are often loaded.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
