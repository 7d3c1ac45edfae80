package builtin_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/shoal-dev/shoal/pkg/builtin"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

func ExampleRegister() {
	cfg := builtin.DefaultConfig()
	cfg.HTTPAllowHosts = []string{"hooks.example.com"}
	// cfg.ExecAllow, _ = builtin.ResolveExecAllow([]string{"echo"}) would enable exec.

	reg := jobs.NewRegistry()
	if err := builtin.Register(reg, cfg); err != nil {
		fmt.Println("register:", err)
		return
	}
	fmt.Println(reg.Types())

	sleep, _ := reg.Lookup(builtin.TypeSleep)
	res, err := sleep(context.Background(), jobs.Job{Type: builtin.TypeSleep, Payload: json.RawMessage(`{"ms": 10}`)})
	fmt.Println(string(res), err)

	fail, _ := reg.Lookup(builtin.TypeFail)
	for attempt := 1; attempt <= 3; attempt++ {
		job := jobs.Job{Type: builtin.TypeFail, Attempt: attempt, Payload: json.RawMessage(`{"times": 2}`)}
		res, err := fail(context.Background(), job)
		fmt.Printf("attempt %d: %s %v (permanent: %v)\n", attempt, res, err, jobs.IsPermanent(err))
	}

	exec, _ := reg.Lookup(builtin.TypeExec)
	_, err = exec(context.Background(), jobs.Job{Type: builtin.TypeExec, Payload: json.RawMessage(`{"command": "ls"}`)})
	fmt.Println(err)
	// Output:
	// [echo exec fail http sleep]
	// {"slept_ms":10} <nil>
	// attempt 1:  fail: attempt 1 failed on purpose (this job fails its first 2) (permanent: false)
	// attempt 2:  fail: attempt 2 failed on purpose (this job fails its first 2) (permanent: false)
	// attempt 3: {"attempt":3} <nil> (permanent: false)
	// exec: command not allowed: "ls" (allowed on this worker: none); start the worker with --exec-allow=ls to permit it
}

func ExampleResolveExecAllow() {
	allow, err := builtin.ResolveExecAllow([]string{"hello=/usr/local/bin/hello-tool"})
	fmt.Println(allow, err)
	// Output:
	// map[hello:/usr/local/bin/hello-tool] <nil>
}
