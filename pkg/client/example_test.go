package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/shoal-dev/shoal/pkg/client"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

// Submit a job to a cluster and wait for its result.
func Example() {
	ctx := context.Background()
	cfg := client.DefaultConfig() // nats://127.0.0.1:4222, no secret
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		log.Fatal(err) // says which address was tried and how to point elsewhere
	}
	defer c.Close()

	id, err := c.SubmitOne(ctx, client.JobSpec{Type: "echo", Payload: json.RawMessage(`{"hi":1}`)})
	if err != nil {
		log.Fatal(err)
	}
	job, err := c.Wait(ctx, id, time.Second)
	if err != nil {
		log.Fatal(err)
	}
	if job.State != jobs.StateSucceeded {
		log.Fatalf("job %s ended %s: %s", id, job.State, job.LastError)
	}
	fmt.Printf("%s\n", job.Result)
}

// How a worker answers shoal.api.submit with the decoders.
func ExampleDecodeSubmitRequest() {
	body := []byte(`{"jobs":[{"type":"echo","payload":{"hi":1}},{"type":"bad name"}]}`)
	req, err := client.DecodeSubmitRequest(body, client.MaxBatch)
	if err != nil {
		fmt.Printf("%s\n", client.ReplyFromError(err))
		return
	}
	for i, spec := range req.Jobs {
		if err := spec.Validate(); err != nil {
			fmt.Println(i, client.CodeOf(err))
			continue
		}
		fmt.Println(i, "ok")
	}

	_, err = client.DecodeSubmitRequest([]byte(`{"jobs":[{"type":"echo","runat":"x"}]}`), 0)
	fmt.Println(errors.Is(err, client.ErrBadRequest))
	// Output:
	// 0 ok
	// 1 bad_request
	// true
}

// Durations read Go duration strings or milliseconds and write strings.
func ExampleDuration() {
	var spec client.JobSpec
	_ = json.Unmarshal([]byte(`{"type":"echo","delay":1500,"timeout":"2m"}`), &spec)
	fmt.Println(spec.Delay.Std(), spec.Timeout.Std())
	out, _ := json.Marshal(spec)
	fmt.Println(string(out))
	// Output:
	// 1.5s 2m0s
	// {"type":"echo","delay":"1.5s","timeout":"2m0s"}
}
