package discovery

import (
	"errors"
	"fmt"
)

// ErrUnknownStrategy is wrapped by New for a strategy name it does not build.
var ErrUnknownStrategy = errors.New("discovery: unknown strategy")

// Config selects and configures a strategy for New.
type Config struct {
	// Strategy is "static", "dns" or "dnssrv" (flag --discovery).
	Strategy string
	// Hosts is the static strategy's host list (flag --peers).
	Hosts []string
	// DNS configures the dns and dnssrv strategies.
	DNS DNSConfig
}

// New builds the strategy cfg names. The kubernetes strategy lives in its own
// package and is built by the caller.
func New(cfg Config) (Strategy, error) {
	switch cfg.Strategy {
	case "static":
		return NewStatic(cfg.Hosts)
	case "dns":
		return NewDNS(cfg.DNS)
	case "dnssrv":
		return NewDNSSRV(cfg.DNS)
	case "":
		return nil, fmt.Errorf("%w: --discovery is empty: choose static (a host list), dns or dnssrv", ErrUnknownStrategy)
	}
	return nil, fmt.Errorf("%w: --discovery=%s: this package builds static, dns and dnssrv", ErrUnknownStrategy, cfg.Strategy)
}
