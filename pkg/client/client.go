package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

// DefaultServer is where a client connects when told nothing else.
const DefaultServer = "nats://127.0.0.1:4222"

// Config says how to reach the cluster.
type Config struct {
	// Servers is a comma-separated list of NATS URLs of workers; any one of
	// them will do. Default DefaultServer.
	Servers string
	// Secret is the cluster's secret, sent as the NATS token. Empty means no
	// authentication (a cluster running open).
	Secret string
	// Timeout bounds the connection attempt and each request. Default 10s.
	Timeout time.Duration
	// Name is the connection's name as the servers show it. Default "shoal-client".
	Name string
}

// DefaultConfig returns a Config for a worker on this host without a secret.
func DefaultConfig() Config {
	return Config{Servers: DefaultServer, Timeout: 10 * time.Second, Name: "shoal-client"}
}

// withDefaults fills in zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if strings.TrimSpace(c.Servers) == "" {
		c.Servers = d.Servers
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.Name == "" {
		c.Name = d.Name
	}
	return c
}

// Validate checks c after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Timeout < 0 {
		return fmt.Errorf("client: timeout %s is negative", c.Timeout)
	}
	for _, s := range splitServers(c.Servers) {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return fmt.Errorf("client: server %q is not a URL such as nats://10.0.0.1:4222: set --server or SHOAL_SERVER", redact(s))
		}
	}
	return nil
}

func splitServers(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			if !strings.Contains(p, "://") {
				p = "nats://" + p
			}
			out = append(out, p)
		}
	}
	return out
}

// redact hides a password or token in a server URL.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = url.User("redacted")
	return u.String()
}

// Client talks to a shoal cluster over NATS. It is safe for concurrent use.
type Client struct {
	nc      *nats.Conn
	cfg     Config
	servers string // redacted, for messages

	closeOnce sync.Once
}

// Dial connects to the first server of cfg.Servers that answers. When none
// does, the error (ErrUnreachable) names the addresses tried and how to point
// elsewhere; when the server refuses the secret, the error (ErrUnauthorized)
// says so. ctx bounds the attempt, as does cfg.Timeout.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	list := splitServers(cfg.Servers)
	shown := make([]string, len(list))
	for i, s := range list {
		shown[i] = redact(s)
	}
	c := &Client{cfg: cfg, servers: strings.Join(shown, ",")}

	timeout := cfg.Timeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < timeout {
			timeout = max(left, time.Millisecond)
		}
	}
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.Timeout(timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		// A CLI should not print nats' own async errors; requests report them.
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
	}
	if cfg.Secret != "" {
		opts = append(opts, nats.Token(cfg.Secret))
	}

	type result struct {
		nc  *nats.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(strings.Join(list, ","), opts...)
		done <- result{nc, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, c.dialError(r.err)
		}
		c.nc = r.nc
		return c, nil
	case <-ctx.Done():
		go func() { // do not leak the connection that may still come
			if r := <-done; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, fmt.Errorf("connecting to %s: %w", c.servers, ctx.Err())
	}
}

func (c *Client) dialError(err error) error {
	if isAuthError(err) {
		hint := "set the cluster's secret with --secret or SHOAL_SECRET"
		if c.cfg.Secret != "" {
			hint = "the secret given (--secret or SHOAL_SECRET) is not the cluster's: check it"
		}
		return &Error{Code: CodeUnauthorized, Message: fmt.Sprintf("the server at %s refused the connection (%v): %s", c.servers, err, hint)}
	}
	return fmt.Errorf("%w: no shoal worker answered at %s (%v): start a worker there, or point elsewhere with --server or SHOAL_SERVER", ErrUnreachable, c.servers, err)
}

func isAuthError(err error) bool {
	if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired) {
		return true
	}
	return strings.Contains(strings.ToLower(err.Error()), "authorization violation")
}

// Close closes the connection. It is safe to call more than once.
func (c *Client) Close() {
	c.closeOnce.Do(func() {
		if c.nc != nil {
			c.nc.Close()
		}
	})
}

// ConnectedServer returns the URL of the server the client is connected to,
// without credentials.
func (c *Client) ConnectedServer() string { return c.nc.ConnectedUrlRedacted() }

// request sends body on subj and decodes the reply into out, mapping an
// ErrorReply to *Error and transport failures to ErrUnavailable/ErrTimeout.
func (c *Client) request(ctx context.Context, subj string, body any, out any) error {
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return fmt.Errorf("encoding %s request: %w", subj, err)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	msg, err := c.nc.RequestWithContext(rctx, subj, data)
	if err != nil {
		return c.requestError(ctx, subj, err)
	}
	return decodeReply(subj, msg.Data, out)
}

func (c *Client) requestError(ctx context.Context, subj string, err error) error {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return &Error{Code: CodeUnavailable, Message: fmt.Sprintf("no worker is serving %s at %s: the server answers but no shoal worker is ready; wait for the workers to start, or check --server or SHOAL_SERVER", subj, c.servers)}
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", subj, ctx.Err())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return fmt.Errorf("%w: no reply on %s within %s: the cluster may be busy or rebalancing; retry, or raise --timeout", ErrTimeout, subj, c.cfg.Timeout)
	case errors.Is(err, nats.ErrMaxPayload):
		return NewError(CodeTooLarge, "request on %s is larger than the server's limit of %d bytes: send fewer or smaller jobs", subj, c.nc.MaxPayload())
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining):
		return fmt.Errorf("%w: connection to %s is closed", ErrUnavailable, c.servers)
	default:
		return fmt.Errorf("%s at %s: %w", subj, c.servers, err)
	}
}

// decodeReply decodes a reply that is either an ErrorReply or out.
func decodeReply(subj string, data []byte, out any) error {
	var probe struct {
		Error *ErrorBody `json:"error"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return NewError(CodeInternal, "undecodable reply on %s: %v", subj, err)
	}
	if probe.Error != nil {
		code := probe.Error.Code
		if code == "" {
			code = CodeInternal
		}
		return &Error{Code: code, Message: probe.Error.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return NewError(CodeInternal, "undecodable reply on %s: %v", subj, err)
	}
	return nil
}

// Submit submits specs in order, in requests of at most MaxBatch jobs that
// also fit the server's message size. It returns one SubmitResult per spec,
// in the same order: an ID, or an Error (a spec that fails Validate, or is too
// large for one message, is refused locally and not sent).
//
// If a request fails as a whole, Submit stops and returns the results of the
// requests answered so far (a prefix of specs) and the error; later specs
// were not sent. After an ErrTimeout the jobs of the failed request may or may
// not have been accepted.
func (c *Client) Submit(ctx context.Context, specs []JobSpec) ([]SubmitResult, error) {
	return c.SubmitProgress(ctx, specs, nil)
}

// SubmitProgress is Submit calling progress(done) after each answered request,
// with done the number of specs that have a result so far.
func (c *Client) SubmitProgress(ctx context.Context, specs []JobSpec, progress func(done int)) ([]SubmitResult, error) {
	results := make([]SubmitResult, len(specs))
	limit := int(c.nc.MaxPayload()) - 1024 // room for the envelope and headers
	if limit < 1024 {
		limit = 1024
	}
	const envelope = len(`{"jobs":[]}`)

	var batch []JobSpec
	var index []int // index[i] is the position in specs of batch[i]
	size := envelope
	flushed := 0 // specs before this have results
	flush := func(upto int) error {
		if len(batch) > 0 {
			var reply SubmitReply
			if err := c.request(ctx, SubjectSubmit, SubmitRequest{Jobs: batch}, &reply); err != nil {
				return err
			}
			if len(reply.Results) != len(batch) {
				return NewError(CodeInternal, "the worker answered %d results for %d jobs", len(reply.Results), len(batch))
			}
			for i, r := range reply.Results {
				results[index[i]] = r
			}
		}
		batch, index, size, flushed = batch[:0], index[:0], envelope, upto
		if progress != nil {
			progress(flushed)
		}
		return nil
	}
	for i, s := range specs {
		if err := ctx.Err(); err != nil {
			return results[:flushed], err
		}
		if err := s.Validate(); err != nil {
			results[i] = refused(err)
			continue
		}
		b, err := json.Marshal(s)
		if err != nil {
			results[i] = refused(badRequest("job %d cannot be encoded: %v", i, err))
			continue
		}
		if len(b)+envelope > limit {
			results[i] = refused(NewError(CodeTooLarge, "job is %d bytes, over the server's message limit of %d: make the payload smaller", len(b), limit))
			continue
		}
		if len(batch) == MaxBatch || size+len(b)+1 > limit {
			if err := flush(i); err != nil {
				return results[:flushed], err
			}
		}
		batch = append(batch, s)
		index = append(index, i)
		size += len(b) + 1
	}
	if err := flush(len(specs)); err != nil {
		return results[:flushed], err
	}
	return results, nil
}

func refused(err error) SubmitResult {
	var e *Error
	if errors.As(err, &e) {
		b := e.Body()
		return SubmitResult{Error: &b}
	}
	return SubmitResult{Error: &ErrorBody{Code: CodeOf(err), Message: err.Error()}}
}

// SubmitOne submits one job and returns its ID. When the job is refused the
// error is an *Error; for ErrDuplicate the returned ID names the job that
// holds the unique key.
func (c *Client) SubmitOne(ctx context.Context, spec JobSpec) (string, error) {
	res, err := c.Submit(ctx, []JobSpec{spec})
	if err != nil {
		return "", err
	}
	return res[0].ID, res[0].Err()
}

// Status returns the job with the given ID (ErrNotFound if none).
func (c *Client) Status(ctx context.Context, id string) (jobs.Job, error) {
	id = NormalizeID(id)
	return c.jobRequest(ctx, SubjectStatus, id, StatusRequest{ID: id})
}

// Cancel cancels the job with the given ID and returns it as it is after the
// cancel. Cancelling a job already in an end state returns it unchanged.
func (c *Client) Cancel(ctx context.Context, id string) (jobs.Job, error) {
	id = NormalizeID(id)
	return c.jobRequest(ctx, SubjectCancel, id, CancelRequest{ID: id})
}

func (c *Client) jobRequest(ctx context.Context, subj, id string, body any) (jobs.Job, error) {
	if err := checkID(id); err != nil {
		return jobs.Job{}, err
	}
	var reply JobReply
	if err := c.request(ctx, subj, body, &reply); err != nil {
		return jobs.Job{}, err
	}
	return reply.Job, nil
}

// List returns jobs matching req, newest first.
func (c *Client) List(ctx context.Context, req ListRequest) (ListReply, error) {
	if err := checkListRequest(&req); err != nil {
		return ListReply{}, err
	}
	var reply ListReply
	err := c.request(ctx, SubjectList, req, &reply)
	return reply, err
}

// Stats returns the job counts by state, in total and per node.
func (c *Client) Stats(ctx context.Context) (StatsReply, error) {
	var reply StatsReply
	err := c.request(ctx, SubjectStats, nil, &reply)
	return reply, err
}

// Members returns the cluster's members as the answering worker sees them.
func (c *Client) Members(ctx context.Context) (MembersReply, error) {
	var reply MembersReply
	err := c.request(ctx, SubjectMembers, nil, &reply)
	return reply, err
}
