package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/pkg/client"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

// exactArgs is cobra.ExactArgs with a usage error that names the argument.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			if n == 0 {
				return usageError("%s takes no arguments", cmd.Name())
			}
			return usageError("%s takes %s", cmd.Name(), what)
		}
		return nil
	}
}

// withClient dials, runs fn and closes.
func (a *app) withClient(ctx context.Context, fn func(*client.Client) error) error {
	c, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// checkID refuses a malformed job ID before connecting.
func checkID(id string) (string, error) {
	id = client.NormalizeID(id)
	if !client.ValidID(id) {
		return "", usageError("%q is not a job ID (32 hex characters, as printed by submit)", id)
	}
	return id, nil
}

func notFound(err error, id string) error {
	if errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("no job %s in the cluster: check the ID (finished jobs are kept only for the retention period)", id)
	}
	return err
}

func (a *app) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status ID",
		Short: "Show a job",
		Args:  exactArgs(1, "one job ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := checkID(args[0])
			if err != nil {
				return err
			}
			return a.withClient(cmd.Context(), func(c *client.Client) error {
				j, err := c.Status(cmd.Context(), id)
				if err != nil {
					return notFound(err, id)
				}
				return a.printJob(j)
			})
		},
	}
}

func (a *app) cancelCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a queued, scheduled or running job",
		Args:  exactArgs(1, "one job ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := checkID(args[0])
			if err != nil {
				return err
			}
			return a.withClient(cmd.Context(), func(c *client.Client) error {
				j, err := c.Cancel(cmd.Context(), id)
				if err != nil {
					return notFound(err, id)
				}
				if err := a.printJob(j); err != nil {
					return err
				}
				if j.State != jobs.StateCancelled {
					fmt.Fprintf(a.stderr, "job %s had already ended %s; nothing to cancel\n", j.ID, j.State)
				}
				return nil
			})
		},
	}
}

func (a *app) listCmd() *cobra.Command {
	var state, queue string
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List jobs, newest first",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := client.ListRequest{State: jobs.State(state), Queue: queue, Limit: limit}
			if state != "" && !client.ValidState(req.State) {
				return usageError("--state %q: use queued, scheduled, running, succeeded, dead or cancelled", state)
			}
			if limit < 0 || limit > client.MaxListLimit {
				return usageError("--limit %d: give 1 to %d", limit, client.MaxListLimit)
			}
			return a.withClient(cmd.Context(), func(c *client.Client) error {
				l, err := c.List(cmd.Context(), req)
				if err != nil {
					return err
				}
				if a.jsonOut() {
					return writeJSON(a.stdout, l)
				}
				if err := writeJobTable(a.stdout, l.Jobs); err != nil {
					return err
				}
				if l.Truncated {
					fmt.Fprintf(a.stderr, "more jobs match: raise --limit (at most %d) or narrow with --state/--queue\n", client.MaxListLimit)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only jobs in this state: queued, scheduled, running, succeeded, dead, cancelled (env SHOAL_LIST_STATE)")
	cmd.Flags().StringVar(&queue, "queue", "", "only jobs of this queue (env SHOAL_LIST_QUEUE)")
	cmd.Flags().IntVar(&limit, "limit", client.DefaultListLimit, "at most this many jobs (env SHOAL_LIST_LIMIT)")
	return cmd
}

func (a *app) statsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Count jobs by state, in total and per node",
		Long:  "Count jobs by state, in total and per node. With -o json, print the StatsReply as is:\n  submit stats -o json | jq .counts.succeeded",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd.Context(), func(c *client.Client) error {
				s, err := c.Stats(cmd.Context())
				if err != nil {
					return err
				}
				if a.jsonOut() {
					return writeJSON(a.stdout, s)
				}
				return writeStatsTable(a.stdout, s)
			})
		},
	}
}

func (a *app) membersCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "members",
		Short: "List the cluster's members: name, address, state, shards, running jobs",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd.Context(), func(c *client.Client) error {
				m, err := c.Members(cmd.Context())
				if err != nil {
					return err
				}
				if a.jsonOut() {
					return writeJSON(a.stdout, m)
				}
				return writeMembersTable(a.stdout, m)
			})
		},
	}
}

func (a *app) watchCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "watch",
		Short: "Print job and cluster events as they happen, until Ctrl-C",
		Long:  "Print job and cluster events as they happen, one line each (JSON lines with -o json), until Ctrl-C.",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd.Context(), func(c *client.Client) error {
				if a.stderrTTY && !a.jsonOut() {
					fmt.Fprintf(a.stderr, "watching events at %s (Ctrl-C to stop)\n", c.ConnectedServer())
				}
				var werr error
				err := c.Watch(cmd.Context(), func(ev client.Event) {
					if werr != nil {
						return
					}
					if a.jsonOut() {
						werr = writeJSON(a.stdout, ev)
					} else {
						_, werr = fmt.Fprintln(a.stdout, formatEvent(ev))
					}
				})
				if werr != nil {
					return werr
				}
				return err
			})
		},
	}
}
