// Command submit is shoal's client: it enqueues jobs on a shoal cluster and
// inspects it (status, list, cancel, stats, members, watch) over NATS. Run
// "submit --help" for usage.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := newApp(os.Stdin, os.Stdout, os.Stderr, os.Getenv, isTerminal(os.Stderr)).run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// isTerminal reports whether f is a character device (a terminal; /dev/null
// also qualifies, harmlessly). It avoids a dependency for one check.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
