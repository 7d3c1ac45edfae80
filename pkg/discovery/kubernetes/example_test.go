package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/shoal-dev/shoal/pkg/discovery"
	"github.com/shoal-dev/shoal/pkg/discovery/kubernetes"
)

// cmd/worker builds the strategy from its SHOAL_K8S_* settings and hands it
// to the discovery Watcher as a discovery.Strategy (it is also a Notifier).
func ExampleNew() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	cfg := kubernetes.DefaultConfig()  // EndpointSlices of the Service "shoal-cluster"
	cfg.Kubeconfig = "kubeconfig.yaml" // empty inside a pod: the in-cluster config
	strategy, err := kubernetes.New(ctx, cfg, zerolog.Nop())
	if err != nil {
		fmt.Println("cannot start:", err != nil)
		return
	}
	defer strategy.Stop()

	var s discovery.Strategy = strategy
	peers, err := s.Lookup(ctx)
	switch {
	case errors.Is(err, kubernetes.ErrForbidden):
		fmt.Println(err) // names the missing verb, resource and namespace
	case err != nil:
		fmt.Println("keeping the last peers:", err)
	default:
		fmt.Println(peers)
	}
	// Output: cannot start: true
}
