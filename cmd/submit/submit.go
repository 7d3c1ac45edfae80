package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shoal-dev/shoal/pkg/client"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

// submitOpts are the flags of "submit TYPE" and "submit job TYPE".
type submitOpts struct {
	queue       string
	priority    int
	delay       time.Duration
	runAt       string
	maxAttempts int
	jobTimeout  time.Duration
	uniqueKey   string
	uniqueTTL   time.Duration
	count       int
	file        string
	wait        bool
	waitTimeout time.Duration
	poll        time.Duration
}

func addSubmitFlags(fs *pflag.FlagSet, o *submitOpts) {
	fs.StringVar(&o.queue, "queue", "", `queue label of the job (default "default")`)
	fs.IntVar(&o.priority, "priority", 0, "priority: higher runs first among ready jobs")
	fs.DurationVar(&o.delay, "delay", 0, "run no earlier than this long from now (e.g. 30s, 5m)")
	fs.StringVar(&o.runAt, "run-at", "", "run no earlier than this time (RFC3339, e.g. 2030-01-02T15:04:05Z)")
	fs.IntVar(&o.maxAttempts, "max-attempts", 0, "attempts before the job is dead (0: the cluster's default)")
	fs.DurationVar(&o.jobTimeout, "job-timeout", 0, "time limit of one attempt (0: the worker's default)")
	fs.StringVar(&o.uniqueKey, "unique-key", "", "refuse the job while another of its type and queue holds this key")
	fs.DurationVar(&o.uniqueTTL, "unique-ttl", 0, "how long the unique key is held (0: the cluster's default)")
	fs.IntVar(&o.count, "count", 1, "submit N copies of the job, in batches")
	fs.StringVar(&o.file, "file", "", "submit the JSON lines of this file (- for stdin), one JobSpec object each")
	fs.BoolVar(&o.wait, "wait", false, "wait for the end state and print the job; exit 0 only if it succeeded")
	fs.DurationVar(&o.waitTimeout, "wait-timeout", 0, "with --wait, give up after this long (0: wait until Ctrl-C)")
	fs.DurationVar(&o.poll, "poll", client.DefaultPoll, "with --wait, how often to poll the status besides listening to events")
}

// submitArgs checks the positional arguments of a submission.
func (a *app) submitArgs(o *submitOpts) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if cmd.Flags().Changed("file") {
			if len(args) > 0 {
				return usageError("--file takes no TYPE or PAYLOAD arguments: each line names its own type")
			}
			return nil
		}
		switch len(args) {
		case 0:
			if !cmd.HasParent() {
				return usageError("name a job TYPE to submit, or a command: status, list, cancel, stats, members, watch")
			}
			return usageError("name the job TYPE to submit")
		case 1, 2:
			return nil
		default:
			return usageError("too many arguments %q: give TYPE and at most one PAYLOAD (quote the JSON)", args[2:])
		}
	}
}

// spec builds the JobSpec of "submit TYPE PAYLOAD" from the flags.
func (o *submitOpts) spec(typ string, payload json.RawMessage) (client.JobSpec, error) {
	s := client.JobSpec{Type: typ, Payload: payload}
	if err := o.applyDefaults(&s); err != nil {
		return s, err
	}
	return s, nil
}

// applyDefaults fills in the fields of s that s leaves empty from the flags.
func (o *submitOpts) applyDefaults(s *client.JobSpec) error {
	if s.Queue == "" {
		s.Queue = o.queue
	}
	if s.Priority == 0 {
		s.Priority = o.priority
	}
	if s.RunAt.IsZero() && s.Delay == 0 {
		if o.runAt != "" {
			t, err := parseRunAt(o.runAt)
			if err != nil {
				return err
			}
			s.RunAt = t
		}
		s.Delay = client.Duration(o.delay)
	}
	if s.MaxAttempts == 0 {
		s.MaxAttempts = o.maxAttempts
	}
	if s.Timeout == 0 {
		s.Timeout = client.Duration(o.jobTimeout)
	}
	if s.UniqueKey == "" {
		s.UniqueKey = o.uniqueKey
	}
	if s.UniqueTTL == 0 && s.UniqueKey != "" {
		s.UniqueTTL = client.Duration(o.uniqueTTL)
	}
	return nil
}

func parseRunAt(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usageError("--run-at %q is not an RFC3339 time such as 2030-01-02T15:04:05Z", v)
	}
	return t, nil
}

// checkFlags refuses combinations that cannot be meant.
func (o *submitOpts) checkFlags() error {
	switch {
	case o.count < 1:
		return usageError("--count %d: give 1 or more", o.count)
	case o.count > 1 && o.file != "":
		return usageError("--count and --file exclude each other: repeat lines in the file instead")
	case o.runAt != "" && o.delay != 0:
		return usageError("--run-at and --delay exclude each other: give one of them")
	case o.uniqueKey != "" && (o.count > 1 || o.file != ""):
		return usageError("--unique-key with --count or --file would refuse all jobs but one: put unique_key in each line instead")
	case o.uniqueTTL != 0 && o.uniqueKey == "" && o.file == "":
		return usageError("--unique-ttl needs --unique-key")
	case o.waitTimeout < 0 || o.poll <= 0:
		return usageError("--wait-timeout must not be negative and --poll must be positive")
	}
	if o.runAt != "" {
		if _, err := parseRunAt(o.runAt); err != nil {
			return err
		}
	}
	return nil
}

// runSubmit is "submit TYPE [PAYLOAD]" and "submit --file F": everything is
// read and checked before the first connection.
func (a *app) runSubmit(ctx context.Context, o *submitOpts, args []string) error {
	if err := o.checkFlags(); err != nil {
		return err
	}
	var specs []client.JobSpec
	var lines []int // line numbers, with --file
	if o.file != "" {
		f, err := a.readSpecs(o)
		if err != nil {
			return err
		}
		specs, lines = f.specs, f.lines
		if len(specs) == 0 {
			return usageError("%s holds no jobs", fileName(o.file))
		}
	} else {
		payloadArg := ""
		if len(args) == 2 {
			payloadArg = args[1]
		}
		payload, err := readPayload(payloadArg, a.stdin)
		if err != nil {
			return err
		}
		spec, err := o.spec(args[0], payload)
		if err != nil {
			return err
		}
		if err := spec.Validate(); err != nil {
			return usageError("%s", describe(err))
		}
		specs = make([]client.JobSpec, o.count)
		for i := range specs {
			specs[i] = spec
		}
	}

	c, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()

	if len(specs) == 1 && o.file == "" {
		return a.submitOne(ctx, c, o, specs[0])
	}
	return a.submitMany(ctx, c, o, specs, lines)
}

func fileName(f string) string {
	if f == "-" {
		return "stdin"
	}
	return f
}

func (a *app) readSpecs(o *submitOpts) (jobsFile, error) {
	var r io.Reader = a.stdin
	if o.file != "-" {
		f, err := os.Open(o.file)
		if err != nil {
			return jobsFile{}, usageError("opening the jobs file: %v", err)
		}
		defer f.Close()
		r = f
	}
	const maxErrs = 10
	var defaultsErr error
	jf, errs, bad, err := readJobsFile(r, func(s *client.JobSpec) {
		if e := o.applyDefaults(s); e != nil {
			defaultsErr = e
		}
	}, maxErrs)
	if defaultsErr != nil {
		return jobsFile{}, defaultsErr
	}
	if err != nil {
		return jobsFile{}, err
	}
	if bad > 0 {
		for _, le := range errs {
			fmt.Fprintf(a.stderr, "%s:%d: %s\n", fileName(o.file), le.line, describe(le.err))
		}
		if bad > len(errs) {
			fmt.Fprintf(a.stderr, "... and %d more bad lines\n", bad-len(errs))
		}
		return jobsFile{}, usageError("%d bad line(s) in %s, first at line %d: nothing was sent; fix them and run again", bad, fileName(o.file), errs[0].line)
	}
	return jf, nil
}

// describe returns an error's message without the client's code suffix.
func describe(err error) string {
	var e *client.Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return err.Error()
}

// submitOne submits one job; with --wait it waits and prints the job.
func (a *app) submitOne(ctx context.Context, c *client.Client, o *submitOpts, spec client.JobSpec) error {
	id, err := c.SubmitOne(ctx, spec)
	if err != nil {
		return submitError(spec, id, err)
	}
	if !o.wait {
		if a.jsonOut() {
			return writeJSON(a.stdout, client.SubmitResult{ID: id})
		}
		fmt.Fprintln(a.stdout, id)
		return nil
	}
	wctx, cancel := a.waitContext(ctx, o)
	defer cancel()
	if !a.jsonOut() && a.stderrTTY {
		fmt.Fprintf(a.stderr, "submitted %s, waiting...\n", id)
	}
	j, err := c.Wait(wctx, id, o.poll)
	if err != nil {
		return fmt.Errorf("job %s was submitted, but waiting for it failed: %w; see it with: submit status %s", id, err, id)
	}
	if err := a.printJob(j); err != nil {
		return err
	}
	return jobOutcome(j)
}

// submitError explains a refused job and what to do.
func submitError(spec client.JobSpec, id string, err error) error {
	switch {
	case errors.Is(err, client.ErrDuplicate):
		return fmt.Errorf("refused: job %s already holds unique key %q: wait for it or use another key", id, spec.UniqueKey)
	case errors.Is(err, client.ErrUnknownType):
		hint := "start workers that register it, or check the spelling"
		if v := nearVerb(spec.Type); v != "" {
			hint = fmt.Sprintf("did you mean the command %q? (see submit --help)", v)
		}
		return fmt.Errorf("refused: %s: %s", describe(err), hint)
	case errors.Is(err, client.ErrTooLarge):
		return fmt.Errorf("refused: %s", describe(err))
	case errors.Is(err, client.ErrBadRequest):
		return fmt.Errorf("refused by the cluster: %s", describe(err))
	}
	return err
}

// jobOutcome is nil for a succeeded job and an error naming the outcome
// otherwise.
func jobOutcome(j jobs.Job) error {
	switch j.State {
	case jobs.StateSucceeded:
		return nil
	case jobs.StateDead:
		return fmt.Errorf("job %s is dead after %d attempt(s): %s", j.ID, j.Attempt, orNone(j.LastError))
	case jobs.StateCancelled:
		if j.LastError != "" {
			return fmt.Errorf("job %s was cancelled: %s", j.ID, j.LastError)
		}
		return fmt.Errorf("job %s was cancelled", j.ID)
	}
	return fmt.Errorf("job %s is %s", j.ID, j.State)
}

func orNone(s string) string {
	if s == "" {
		return "no error recorded"
	}
	return s
}

func (a *app) waitContext(ctx context.Context, o *submitOpts) (context.Context, context.CancelFunc) {
	if o.waitTimeout > 0 {
		return context.WithTimeout(ctx, o.waitTimeout)
	}
	return context.WithCancel(ctx)
}

// submitMany submits --count copies or the lines of --file in batches, with a
// progress bar on a terminal; it prints one ID per accepted job (one
// SubmitResult JSON line per job with -o json), reports refused jobs on
// stderr, and with --wait waits for all of them.
func (a *app) submitMany(ctx context.Context, c *client.Client, o *submitOpts, specs []client.JobSpec, lines []int) error {
	bar := newProgress(a.stderr, a.stderrTTY, "submit", len(specs))
	res, err := c.SubmitProgress(ctx, specs, bar.set)
	bar.finish()

	var ids []string
	refused := 0
	const maxShown = 10
	for i, r := range res {
		if a.jsonOut() {
			if werr := writeJSON(a.stdout, r); werr != nil {
				return werr
			}
		}
		if r.Error != nil {
			refused++
			if refused <= maxShown {
				where := fmt.Sprintf("job %d", i+1)
				if lines != nil {
					where = fmt.Sprintf("%s:%d", fileName(o.file), lines[i])
				}
				fmt.Fprintf(a.stderr, "%s: refused: %s (%s)\n", where, r.Error.Message, r.Error.Code)
			}
			continue
		}
		ids = append(ids, r.ID)
		if !a.jsonOut() {
			fmt.Fprintln(a.stdout, r.ID)
		}
	}
	if refused > maxShown {
		fmt.Fprintf(a.stderr, "... and %d more refused\n", refused-maxShown)
	}
	if err != nil {
		return fmt.Errorf("stopped after %d of %d jobs were answered (%d accepted, IDs above): %w", len(res), len(specs), len(ids), err)
	}
	fmt.Fprintf(a.stderr, "submitted %d of %d jobs", len(ids), len(specs))
	if refused > 0 {
		fmt.Fprintf(a.stderr, " (%d refused)", refused)
	}
	fmt.Fprintln(a.stderr)
	if !o.wait || len(ids) == 0 {
		if refused > 0 {
			return fmt.Errorf("%d of %d jobs were refused (see above)", refused, len(specs))
		}
		return nil
	}
	return a.waitMany(ctx, c, o, ids, refused)
}

// waitMany waits for ids and prints each finished job that did not succeed
// (every finished job as a JSON line with -o json), then a summary.
func (a *app) waitMany(ctx context.Context, c *client.Client, o *submitOpts, ids []string, refused int) error {
	wctx, cancel := a.waitContext(ctx, o)
	defer cancel()
	bar := newProgress(a.stderr, a.stderrTTY, "wait", len(ids))
	counts := map[jobs.State]int{}
	var firstFailure error
	var werr error
	done := 0
	err := c.WaitAll(wctx, ids, o.poll, func(j jobs.Job) {
		counts[j.State]++
		done++
		bar.set(done)
		if a.jsonOut() {
			if e := writeJSON(a.stdout, j); e != nil && werr == nil {
				werr = e
			}
		}
		if j.State != jobs.StateSucceeded && firstFailure == nil {
			firstFailure = jobOutcome(j)
		}
	})
	bar.finish()
	if werr != nil {
		return werr
	}
	fmt.Fprintf(a.stderr, "%d succeeded, %d dead, %d cancelled, %d not finished\n",
		counts[jobs.StateSucceeded], counts[jobs.StateDead], counts[jobs.StateCancelled], len(ids)-done)
	switch {
	case err != nil:
		return fmt.Errorf("waiting: %w", err)
	case firstFailure != nil:
		return fmt.Errorf("%d of %d jobs did not succeed; first: %w", len(ids)-counts[jobs.StateSucceeded], len(ids), firstFailure)
	case refused > 0:
		return fmt.Errorf("%d jobs were refused (see above)", refused)
	}
	return nil
}

// nearVerb returns the command that typ probably meant (edit distance 1 or
// a transposition), or "".
func nearVerb(typ string) string {
	for _, v := range reservedVerbs {
		if v != typ && closeTo(typ, v) {
			return v
		}
	}
	return ""
}

// closeTo reports whether a and b differ by one insertion, deletion,
// substitution or adjacent transposition.
func closeTo(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	if len(b)-len(a) > 1 {
		return false
	}
	i := 0
	for i < len(a) && a[i] == b[i] {
		i++
	}
	if len(a) == len(b) {
		if i == len(a) {
			return true
		}
		if a[i+1:] == b[i+1:] {
			return true // substitution
		}
		return i+1 < len(a) && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:]
	}
	return a[i:] == b[i+1:] // one insertion
}
