package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/shoal-dev/shoal/pkg/discovery"
)

// StrategyName is the name of the strategy on the command line
// (SHOAL_DISCOVERY=kubernetes).
const StrategyName = "kubernetes"

// Strategy is the kubernetes discovery strategy. It implements
// discovery.Strategy and discovery.Notifier. Create it with New.
type Strategy struct {
	cfg       Config
	namespace string
	log       zerolog.Logger

	resource, group string // what is watched, for messages
	informer        cache.SharedIndexInformer
	toPeers         func([]any) []discovery.Peer

	changes chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	stop    sync.Once

	mu       sync.Mutex
	listErr  error // last list call's error; nil after a successful list
	watchErr error // last watch call's error; nil after a successful watch
	last     []discovery.Peer
	reported string // the error last logged, to log changes only
}

var (
	_ discovery.Strategy = (*Strategy)(nil)
	_ discovery.Notifier = (*Strategy)(nil)
)

// New validates cfg, builds a client (in-cluster, or from cfg.Kubeconfig),
// resolves the namespace and starts watching. It returns without waiting for
// the first list (see WaitForSync); the watch runs until ctx is done or Stop
// is called.
func New(ctx context.Context, cfg Config, log zerolog.Logger) (*Strategy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rc, err := RESTConfig(cfg)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes discovery: building the client: %w", err)
	}
	return NewForClient(ctx, cfg, client, log)
}

// RESTConfig returns the client configuration New uses: from cfg.Kubeconfig
// if set, else the in-cluster one.
func RESTConfig(cfg Config) (*rest.Config, error) {
	var (
		rc  *rest.Config
		err error
	)
	if cfg.Kubeconfig != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubernetes discovery: reading kubeconfig %s (SHOAL_K8S_KUBECONFIG): %w", cfg.Kubeconfig, err)
		}
	} else {
		rc, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes discovery: not running in a Kubernetes pod (%w): set SHOAL_K8S_KUBECONFIG to a kubeconfig to run outside a cluster, or use another SHOAL_DISCOVERY strategy", err)
		}
	}
	rc = rest.CopyConfig(rc)
	rc.UserAgent = "shoal-worker/discovery"
	return rc, nil
}

// NewForClient is New with a ready client (tests, or a caller that builds its
// own). The namespace is resolved like New does.
func NewForClient(ctx context.Context, cfg Config, client kubernetes.Interface, log zerolog.Logger) (*Strategy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ns, err := resolveNamespace(cfg.Namespace, os.Getenv("POD_NAMESPACE"), cfg.NamespaceFile, os.ReadFile)
	if err != nil {
		return nil, err
	}
	s := &Strategy{
		cfg:       cfg,
		namespace: ns,
		changes:   make(chan struct{}, 1),
		done:      make(chan struct{}),
	}

	var (
		lw      *cache.ListWatch
		example runtime.Object
	)
	switch cfg.Mode {
	case ModeEndpointSlices:
		s.resource, s.group = "endpointslices", discoveryv1.GroupName
		selector := discoveryv1.LabelServiceName + "=" + cfg.Service
		api := client.DiscoveryV1().EndpointSlices(ns)
		lw = &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.LabelSelector = selector
				l, err := api.List(ctx, o)
				s.recordCall("list", err)
				return l, err
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.LabelSelector = selector
				w, err := api.Watch(ctx, o)
				s.recordCall("watch", err)
				return w, err
			},
		}
		example = &discoveryv1.EndpointSlice{}
		s.toPeers = func(objs []any) []discovery.Peer {
			slices := make([]*discoveryv1.EndpointSlice, 0, len(objs))
			for _, o := range objs {
				// The server filters by label; checking again costs nothing
				// and keeps a watch that did not filter from adding strangers.
				if es, ok := o.(*discoveryv1.EndpointSlice); ok && es.Labels[discoveryv1.LabelServiceName] == cfg.Service {
					slices = append(slices, es)
				}
			}
			return PeersFromEndpointSlices(slices, cfg.HTTPPortName)
		}
	case ModePods:
		s.resource, s.group = "pods", corev1.GroupName
		selector, err := labels.Parse(cfg.Selector)
		if err != nil {
			return nil, fmt.Errorf("%w: label selector %q: %w", ErrInvalidConfig, cfg.Selector, err)
		}
		api := client.CoreV1().Pods(ns)
		lw = &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.LabelSelector = cfg.Selector
				l, err := api.List(ctx, o)
				s.recordCall("list", err)
				return l, err
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.LabelSelector = cfg.Selector
				w, err := api.Watch(ctx, o)
				s.recordCall("watch", err)
				return w, err
			},
		}
		example = &corev1.Pod{}
		s.toPeers = func(objs []any) []discovery.Peer {
			pods := make([]*corev1.Pod, 0, len(objs))
			for _, o := range objs {
				if p, ok := o.(*corev1.Pod); ok && selector.Matches(labels.Set(p.Labels)) {
					pods = append(pods, p)
				}
			}
			return PeersFromPods(pods, cfg.HTTPPortName)
		}
	}
	s.log = log.With().Str("strategy", StrategyName).
		Str("namespace", ns).Str("resource", s.groupResource()).Str("filter", s.filter()).Logger()

	s.informer = cache.NewSharedIndexInformerWithOptions(
		cache.ToListWatcherWithWatchListSemantics(lw, client), example,
		cache.SharedIndexInformerOptions{ObjectDescription: s.groupResource()})
	if err := s.informer.SetWatchErrorHandlerWithContext(s.onWatchError); err != nil {
		return nil, fmt.Errorf("kubernetes discovery: %w", err)
	}
	reg, err := s.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.refresh() },
		UpdateFunc: func(any, any) { s.refresh() },
		DeleteFunc: func(any) { s.refresh() },
	})
	if err != nil {
		return nil, fmt.Errorf("kubernetes discovery: %w", err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		s.informer.RunWithContext(runCtx)
	}()
	go func() {
		defer wg.Done()
		// The first complete list may bring no events at all (no endpoints
		// yet): tell the watcher once the cache is usable.
		if cache.WaitForCacheSync(runCtx.Done(), reg.HasSynced) {
			s.log.Info().Int("peers", len(s.Peers())).Msg("kubernetes discovery: watching")
			s.refresh()
			s.notify()
		}
	}()
	go func() {
		wg.Wait()
		close(s.done)
	}()
	s.log.Info().Msg("kubernetes discovery: starting the watch")
	return s, nil
}

// Name is "kubernetes".
func (s *Strategy) Name() string { return StrategyName }

// Namespace is the namespace the strategy watches.
func (s *Strategy) Namespace() string { return s.namespace }

// Changes receives a value whenever the peer set (or the error state)
// changes; values coalesce, so a slow reader sees one.
func (s *Strategy) Changes() <-chan struct{} { return s.changes }

// Lookup returns the peers in the informer's cache, sorted by Host. Before
// the first complete list it waits for it (Config.FirstSyncWait at most),
// then returns ErrNotSynced; after Stop it returns ErrStopped. While list or watch calls fail it returns the cached (last known)
// peers together with an *APIError: never an empty set because of an error.
func (s *Strategy) Lookup(ctx context.Context) ([]discovery.Peer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-s.done:
		return nil, ErrStopped
	default:
	}
	if !s.informer.HasSynced() && s.cfg.FirstSyncWait > 0 && s.apiErr() == nil {
		s.waitFirstSync(ctx)
	}
	apiErr := s.apiErr()
	if !s.informer.HasSynced() {
		if apiErr != nil {
			return nil, fmt.Errorf("%w: %w", ErrNotSynced, apiErr)
		}
		return nil, ErrNotSynced
	}
	peers := s.toPeers(s.informer.GetStore().List())
	if apiErr != nil {
		return peers, apiErr
	}
	return peers, nil
}

// waitFirstSync waits for the first complete list, at most FirstSyncWait,
// and not past ctx or an API error.
func (s *Strategy) waitFirstSync(ctx context.Context) {
	deadline := time.NewTimer(s.cfg.FirstSyncWait)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !s.informer.HasSynced() && s.apiErr() == nil {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

// Peers is the cached peer set, whatever the error state (empty before the
// first list).
func (s *Strategy) Peers() []discovery.Peer {
	return s.toPeers(s.informer.GetStore().List())
}

// Err is the current API error (nil when the last list and watch calls
// succeeded).
func (s *Strategy) Err() error {
	if err := s.apiErr(); err != nil {
		return err
	}
	return nil
}

// WaitForSync waits until the first complete list is in the cache. If ctx
// ends first it returns an error wrapping ErrNotSynced and the current API
// error, if any (a 403, for example).
func (s *Strategy) WaitForSync(ctx context.Context) error {
	if cache.WaitForCacheSync(mergeDone(ctx.Done(), s.done), s.informer.HasSynced) {
		return nil
	}
	if err := s.apiErr(); err != nil {
		return fmt.Errorf("%w: %w", ErrNotSynced, err)
	}
	return fmt.Errorf("%w: %w", ErrNotSynced, context.Cause(ctx))
}

// Stop ends the watch and waits for it. Safe to call more than once.
func (s *Strategy) Stop() {
	s.stop.Do(func() {
		s.cancel()
		<-s.done
	})
}

func (s *Strategy) groupResource() string {
	if s.group == "" {
		return s.resource
	}
	return s.resource + "." + s.group
}

func (s *Strategy) filter() string {
	if s.cfg.Mode == ModePods {
		return s.cfg.Selector
	}
	return discoveryv1.LabelServiceName + "=" + s.cfg.Service
}

// recordCall remembers the outcome of a list or watch call.
func (s *Strategy) recordCall(verb string, err error) {
	if err != nil && errors.Is(err, context.Canceled) {
		return // stopping
	}
	var described error
	if err != nil {
		described = newAPIError(verb, s.resource, s.group, s.namespace, s.cfg.RBACHint, err)
	}
	s.mu.Lock()
	if verb == "list" {
		s.listErr = described
	} else {
		s.watchErr = described
	}
	changed := s.reportLocked()
	s.mu.Unlock()
	if changed {
		s.notify()
	}
}

// reportLocked logs the error state when it changes; it returns whether it did.
func (s *Strategy) reportLocked() bool {
	cur := s.apiErrLocked()
	msg := ""
	if cur != nil {
		msg = cur.Error()
	}
	if msg == s.reported {
		return false
	}
	prev := s.reported
	s.reported = msg
	switch {
	case cur == nil:
		s.log.Info().Str("was", prev).Msg("kubernetes discovery: the API server answers again")
	case errors.Is(cur, ErrForbidden):
		s.log.Error().Err(cur).Msg("kubernetes discovery: forbidden; keeping the last known peers")
	default:
		s.log.Warn().Err(cur).Msg("kubernetes discovery: API error; keeping the last known peers")
	}
	return true
}

func (s *Strategy) apiErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apiErrLocked()
}

// apiErrLocked prefers a 403 (it needs a person), then the list error.
func (s *Strategy) apiErrLocked() error {
	for _, e := range []error{s.listErr, s.watchErr} {
		if e != nil && errors.Is(e, ErrForbidden) {
			return e
		}
	}
	if s.listErr != nil {
		return s.listErr
	}
	if s.watchErr != nil {
		return s.watchErr
	}
	return nil
}

// onWatchError replaces client-go's default handler (which logs through
// klog). Failed calls are already recorded by recordCall; this only logs
// what ends an established watch abnormally, at debug level.
func (s *Strategy) onWatchError(_ context.Context, _ *cache.Reflector, err error) {
	s.log.Debug().Err(err).Msg("kubernetes discovery: watch ended; re-listing")
}

// refresh recomputes the peer set from the cache and notifies on change.
func (s *Strategy) refresh() {
	if !s.informer.HasSynced() {
		return
	}
	peers := s.Peers()
	s.mu.Lock()
	changed := !samePeers(peers, s.last)
	if changed {
		s.last = peers
	}
	s.mu.Unlock()
	if changed {
		s.log.Debug().Int("peers", len(peers)).Msg("kubernetes discovery: peer set changed")
		s.notify()
	}
}

func (s *Strategy) notify() {
	select {
	case s.changes <- struct{}{}:
	default:
	}
}

func mergeDone(a, b <-chan struct{}) <-chan struct{} {
	out := make(chan struct{})
	go func() {
		defer close(out)
		select {
		case <-a:
		case <-b:
		}
	}()
	return out
}
