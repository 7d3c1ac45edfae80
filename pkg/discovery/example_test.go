package discovery_test

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/shoal-dev/shoal/pkg/discovery"
)

func Example() {
	s, err := discovery.New(discovery.Config{
		Strategy: "static",
		Hosts:    []string{"127.0.0.2,127.0.0.1", "127.0.0.3:8081"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	w, err := discovery.NewWatcher(s, discovery.DefaultWatcherConfig(), zerolog.Nop())
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := w.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	defer w.Stop()

	for _, p := range <-w.Updates() { // the first set comes at once
		fmt.Println(p.Host, p.Port)
	}
	// Output:
	// 127.0.0.1 0
	// 127.0.0.2 0
	// 127.0.0.3 8081
}

func ExampleNew_missingName() {
	_, err := discovery.New(discovery.Config{Strategy: "dns"})
	fmt.Println(err)
	// Output:
	// discovery: --discovery=dns needs --dns-name (for example the headless service name, or the docker-compose service name)
}
