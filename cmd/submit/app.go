package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shoal-dev/shoal/pkg/client"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the cluster refused, was unreachable, or a waited-for job did not succeed
	exitUsage = 2 // bad flags, arguments, payload or jobs file: nothing was sent
)

// reservedVerbs are the subcommands; a job type with one of these names is
// submitted with "submit -- VERB ..." or "submit job VERB ...".
var reservedVerbs = []string{"status", "list", "cancel", "stats", "members", "watch", "job", "help"}

// app holds the process's streams and environment, injected for tests.
type app struct {
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	getenv    func(string) string
	stderrTTY bool // draw progress bars on stderr

	global globalOpts
}

type globalOpts struct {
	server  string
	secret  string
	timeout time.Duration
	output  string
}

func newApp(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string, stderrTTY bool) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, stderrTTY: stderrTTY}
}

// exitErr carries an exit code; usage errors also get a pointer to --help.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitErr{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// run executes the command line and returns the exit code, having printed
// any error as one line on stderr.
func (a *app) run(ctx context.Context, args []string) int {
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitError
	var ee *exitErr
	if errors.As(err, &ee) {
		code = ee.code
	}
	msg := oneLine(err.Error())
	if code == exitUsage {
		msg += " (see submit --help)"
	}
	fmt.Fprintf(a.stderr, "submit: %s\n", msg)
	return code
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

const rootLong = `submit enqueues jobs on a shoal cluster and inspects it, over NATS, through
any worker.

  submit TYPE [PAYLOAD]       enqueue one job (or --count N copies); prints its ID
  submit --file F             enqueue JSON lines, one JobSpec object per line
  submit job TYPE [PAYLOAD]   the same as "submit TYPE", for a TYPE named like a command
  submit -- TYPE [PAYLOAD]    likewise

PAYLOAD is JSON text, @FILE to read it from a file, or - for stdin; default {}.
It is checked before anything is sent. With --file, every line is decoded and
validated first; if any line is bad, the bad lines are reported with their
line numbers and nothing is sent. Flags such as --queue or --priority fill in
what a line leaves out.

--wait waits for the end state and prints the job; the exit status is 0 only
if every job succeeded.

The words status, list, cancel, stats, members, watch, job and help are
commands; to submit a job whose type is one of them, use "submit -- status
'{...}'" or "submit job status '{...}'".

Every flag can also be set in the environment: --server is SHOAL_SERVER,
--max-attempts is SHOAL_MAX_ATTEMPTS, and a command's own flag is
SHOAL_<COMMAND>_<FLAG> (list --state is SHOAL_LIST_STATE). Flags win.

Exit status: 0 success; 1 refused, unreachable, or a job that did not succeed;
2 usage error (bad flags, arguments, payload or jobs file; nothing was sent).`

func (a *app) rootCmd() *cobra.Command {
	so := &submitOpts{}
	root := &cobra.Command{
		Use:   "submit TYPE [PAYLOAD] | submit COMMAND",
		Short: "Enqueue jobs on a shoal cluster and inspect it",
		Long:  rootLong,
		Example: `  submit echo '{"hi":1}'
  submit sleep '{"ms":200}' --count 1000
  submit http @hook.json --queue webhooks --max-attempts 10 --wait
  submit --file jobs.jsonl
  submit stats -o json | jq .counts.succeeded
  SHOAL_SERVER=nats://10.0.0.7:4222 SHOAL_SECRET=... submit members`,
		Args:              a.submitArgs(so),
		RunE:              func(cmd *cobra.Command, args []string) error { return a.runSubmit(cmd.Context(), so, args) },
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.applyEnv(cmd); err != nil {
				return err
			}
			return a.checkGlobal()
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitErr{code: exitUsage, err: err} })

	pf := root.PersistentFlags()
	pf.StringVar(&a.global.server, "server", client.DefaultServer, "NATS URL(s) of any worker, comma-separated (env SHOAL_SERVER)")
	pf.StringVar(&a.global.secret, "secret", "", "the cluster's secret (env SHOAL_SECRET; prefer the env var: flags show in ps)")
	pf.DurationVar(&a.global.timeout, "timeout", 10*time.Second, "time limit for connecting and for each request (env SHOAL_TIMEOUT)")
	pf.StringVarP(&a.global.output, "output", "o", "table", "output format: table or json (env SHOAL_OUTPUT)")

	addSubmitFlags(root.Flags(), so)

	job := &cobra.Command{
		Use:   "job TYPE [PAYLOAD]",
		Short: `Submit a job; the explicit form of "submit TYPE [PAYLOAD]" for any TYPE`,
		Args:  a.submitArgs(so),
		RunE:  func(cmd *cobra.Command, args []string) error { return a.runSubmit(cmd.Context(), so, args) },
	}
	addSubmitFlags(job.Flags(), so)

	root.AddCommand(job, a.statusCmd(), a.listCmd(), a.cancelCmd(), a.statsCmd(), a.membersCmd(), a.watchCmd())
	for _, c := range root.Commands() {
		c.SilenceErrors, c.SilenceUsage = true, true
	}
	return root
}

func (a *app) checkGlobal() error {
	switch a.global.output {
	case "table", "json":
	default:
		return usageError("unknown output format %q: use -o table or -o json", a.global.output)
	}
	if a.global.timeout <= 0 {
		return usageError("--timeout %s: give a positive duration such as 10s", a.global.timeout)
	}
	return nil
}

// envName is the environment variable of a flag: SHOAL_<FLAG> for global
// flags and the submit flags, SHOAL_<COMMAND>_<FLAG> for a command's own.
func envName(cmd *cobra.Command, f *pflag.Flag) string {
	name := strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
	if cmd.HasParent() && cmd.Name() != "job" && cmd.LocalNonPersistentFlags().Lookup(f.Name) != nil {
		return "SHOAL_" + strings.ToUpper(cmd.Name()) + "_" + name
	}
	return "SHOAL_" + name
}

// applyEnv sets every flag not given on the command line from its
// environment variable, if set.
func (a *app) applyEnv(cmd *cobra.Command) error {
	var errs []error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" {
			return
		}
		env := envName(cmd, f)
		v, ok := a.lookupEnv(env)
		if !ok {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, usageError("%s=%q is not a valid value for --%s: %v", env, v, f.Name, err))
			return
		}
		f.Changed = true
	})
	return errors.Join(errs...)
}

func (a *app) lookupEnv(name string) (string, bool) {
	v := a.getenv(name)
	return v, v != ""
}

// dial connects with the global flags.
func (a *app) dial(ctx context.Context) (*client.Client, error) {
	cfg := client.DefaultConfig()
	cfg.Servers, cfg.Secret, cfg.Timeout, cfg.Name = a.global.server, a.global.secret, a.global.timeout, "shoal-submit"
	return client.Dial(ctx, cfg)
}

func (a *app) jsonOut() bool { return a.global.output == "json" }
