package harness_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/bench/harness"
	"github.com/shoal-dev/shoal/bench/systems/memsys"
)

// Run the scenarios against a System and print the table.
func Example() {
	mem, _ := memsys.New(4)
	cfg := harness.QuickConfig()
	cfg.Reps, cfg.N = 1, 1000
	cfg.Scenarios = []string{"burn-down", "steady"}
	r, err := harness.New(cfg, []harness.System{mem})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := r.Run(ctx, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(harness.Throughputs(res.BurnDown["mem"])), "burn-down run")
	// To print the table: harness.WriteTable(os.Stdout, res)
	// Output: 1 burn-down run
}
