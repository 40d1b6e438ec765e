package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/control/reshard"
	"github.com/shardgate/shardgate/topo"
)

// reshardFlags are the flags every reshard subcommand takes.
type reshardFlags struct {
	keyspace, workflow string
}

func (f *reshardFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.keyspace, "keyspace", "", "keyspace being resharded (required)")
	cmd.Flags().StringVar(&f.workflow, "workflow", "reshard", "name of the workflow")
	_ = cmd.MarkFlagRequired("keyspace")
}

func reshardCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reshard",
		Short: "Split or merge a keyspace's shards online",
		Long: `Split or merge a keyspace's shards while clients keep reading and writing.

  1. create        the target shards copy the sources' rows, then follow their
                   binlogs (start the targets' tablets first:
                   shardctl local add-shards, or shardtablet by hand)
  2. status        copy progress, lag and ETA (--watch for a live view)
  3. diff          compare targets and sources row by row
  4. switch-reads  replica and rdonly reads go to the targets
  5. switch-writes gates hold the keyspace's writes (well under a second),
                   the sources stop, the targets catch up and serve; reverse
                   streams keep the sources current
  6. complete      the sources leave the keyspace (or: reverse, to go back;
                   cancel, before switch-writes, to drop the targets)

The workflow lives in the topology: any shardctl can drive it, and tablets
that restart resume their streams where they stopped.`,
	}
	cmd.AddCommand(reshardCreate(a), reshardStatus(a), reshardDiff(a), reshardSwitchReads(a), reshardSwitchWrites(a),
		reshardReverse(a), reshardComplete(a), reshardCancel(a))
	return cmd
}

func reshardCreate(a *app) *cobra.Command {
	var f reshardFlags
	var from, to string
	var spec reshard.ReshardSpec
	cmd := &cobra.Command{
		Use:   "create --keyspace KS --from SHARDS --to SHARDS",
		Short: "Start copying the sources' rows into the target shards",
		Long: `Start a resharding: check that --from and --to cover the same key range,
record the target shards (not serving yet) when missing, create the tables
on the targets as the sources define them, and record the workflow. The
targets' tablets then copy every table (a consistent snapshot per chunk,
filtered by each row's keyspace id) and follow the sources' binlogs.

Every table of the keyspace must be in its vschema with a primary key and a
functional primary vindex (hash, xxhash, numeric, binary...), or be a
reference table.`,
		Args: cobra.NoArgs,
		RunE: a.withTablets(func(ctx context.Context, ts *topo.Server, opts []control.Option) error {
			spec.Keyspace, spec.Name = f.keyspace, f.workflow
			spec.Sources, spec.Targets = splitList(from), splitList(to)
			wf, err := reshard.CreateReshard(ctx, ts, spec, opts...)
			if err != nil {
				return err
			}
			tables := make([]string, len(wf.Tables))
			for i, t := range wf.Tables {
				tables[i] = t.Table
			}
			fmt.Printf("workflow %s.%s created: %s -> %s, tables %s\n", wf.Keyspace, wf.Name, strings.Join(wf.Sources, ","), strings.Join(wf.Targets, ","), strings.Join(tables, ","))
			fmt.Printf("follow it with: shardctl reshard status --keyspace %s --workflow %s --watch\n", wf.Keyspace, wf.Name)
			return nil
		}),
	}
	f.add(cmd)
	cmd.Flags().StringVar(&from, "from", "", "source shards, comma-separated (required)")
	cmd.Flags().StringVar(&to, "to", "", "target shards, comma-separated (required)")
	cmd.Flags().Int64Var(&spec.MaxRowsPerSecond, "max-rows-per-second", 0, "bound on each stream's copy rate (0: none)")
	cmd.Flags().Int64Var(&spec.CopyBatchRows, "copy-batch-rows", 10000, "rows one copy round reads from a source")
	cmd.Flags().DurationVar(&spec.MaxReplicaLag, "max-replica-lag", 10*time.Second, "pause a stream's copy while a replica of its target shard lags more than this (0: never)")
	cmd.Flags().Int64Var(&spec.CopyStreams, "copy-streams", 0, "streams of one target that copy at once (0: one per source, all at once)")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func reshardStatus(a *app) *cobra.Command {
	var f reshardFlags
	var watch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "status --keyspace KS",
		Short: "Show the workflow's state, each stream's copy progress, lag and ETA",
		Args:  cobra.NoArgs,
		RunE: a.withTopo(func(ctx context.Context, ts *topo.Server) error {
			show := func() error {
				st, err := reshard.ReshardStatus(ctx, ts, f.keyspace, f.workflow)
				if err != nil {
					return err
				}
				return reshard.WriteStatus(os.Stdout, st, time.Now())
			}
			if !watch {
				return show()
			}
			fi, err := os.Stdout.Stat()
			tty := err == nil && fi.Mode()&os.ModeCharDevice != 0
			for {
				if tty {
					fmt.Print("\033[H\033[2J") // redraw in place
				} else {
					fmt.Printf("--- %s\n", time.Now().Format(time.TimeOnly))
				}
				if err := show(); err != nil {
					return err
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(interval):
				}
			}
		}),
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&watch, "watch", false, "redraw every --interval until interrupted")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "how often --watch redraws")
	return cmd
}

func reshardDiff(a *app) *cobra.Command {
	var f reshardFlags
	opts := reshard.DefaultDiffOptions()
	cmd := &cobra.Command{
		Use:   "diff --keyspace KS",
		Short: "Compare the targets' rows with the sources', row by row",
		Long: `Compare, for every table and target shard, the rows the sources hold for
the target's key range with the target's rows, at one consistent point
(the streams pause for a moment per table; clients are not held). Reports
row counts, CRC-64 checksums in primary-key order, chunks that differ and
the primary keys of mismatching rows. Exits with an error if any differ.`,
		Args: cobra.NoArgs,
		RunE: a.withTablets(func(ctx context.Context, ts *topo.Server, tabletOpts []control.Option) error {
			opts.Progress = func(d reshard.TableDiff) {
				verdict := "match"
				if !d.Match() {
					verdict = fmt.Sprintf("DIFFER: %d missing on the target, %d extra, %d different; %d of %d chunks differ",
						d.Missing, d.Extra, d.Different, d.ChunksDiffering, d.Chunks)
				}
				fmt.Printf("%-24s %-8s <- %-12s rows %d/%d  crc64 %016x/%016x  %s  (%v)\n", d.Table, d.Receiver, strings.Join(d.Senders, ","),
					d.SenderRows, d.ReceiverRows, d.SenderChecksum, d.ReceiverChecksum, verdict, d.Duration.Round(time.Millisecond))
				for _, m := range d.Mismatches {
					fmt.Printf("    %-9s %s\n", m.Kind, m.PK)
				}
			}
			report, err := reshard.DiffReshard(ctx, ts, f.keyspace, f.workflow, opts, tabletOpts...)
			if err != nil {
				return err
			}
			if !report.Match() {
				return errors.New("the targets differ from the sources (above)")
			}
			fmt.Printf("all %d table copies match\n", len(report.Tables))
			return nil
		}),
	}
	f.add(cmd)
	cmd.Flags().IntVar(&opts.MaxReported, "max-reported", opts.MaxReported, "mismatching primary keys listed per table")
	cmd.Flags().IntVar(&opts.ChunkRows, "chunk-rows", opts.ChunkRows, "rows per checksummed chunk")
	return cmd
}

func reshardSwitchReads(a *app) *cobra.Command {
	var f reshardFlags
	cmd := &cobra.Command{
		Use:   "switch-reads --keyspace KS",
		Short: "Send replica and rdonly reads to the targets",
		Args:  cobra.NoArgs,
		RunE: a.withTopo(func(ctx context.Context, ts *topo.Server) error {
			if err := reshard.SwitchReads(ctx, ts, f.keyspace, f.workflow); err != nil {
				return err
			}
			fmt.Println("replica and rdonly reads now go to the targets")
			return nil
		}),
	}
	f.add(cmd)
	return cmd
}

func switchFlags(cmd *cobra.Command, opts *reshard.SwitchOptions) {
	*opts = reshard.DefaultSwitchOptions()
	cmd.Flags().DurationVar(&opts.BufferWindow, "buffer-window", opts.BufferWindow, "longest the gates may hold writes; a switch not done by then is undone")
	cmd.Flags().DurationVar(&opts.DrainTimeout, "drain-timeout", opts.DrainTimeout, "longest wait for the transactions open in the keyspace to end; the switch is undone if some are still open")
	cmd.Flags().DurationVar(&opts.CatchUpTimeout, "catch-up-timeout", opts.CatchUpTimeout, "longest wait, before writes are held, for the streams to come near their senders")
}

func printSwitch(what string, r *reshard.SwitchReport) {
	fmt.Printf("%s: writes were held for %v (%v of it waiting for open transactions to end)\n", what,
		r.Stall.Round(time.Millisecond), r.Drain.Round(time.Millisecond))
	var steps []string
	for _, s := range r.Steps {
		steps = append(steps, fmt.Sprintf("%s %v", s.Name, s.Took.Round(time.Millisecond)))
	}
	fmt.Printf("  steps: %s\n", strings.Join(steps, ", "))
}

func reshardSwitchWrites(a *app) *cobra.Command {
	var f reshardFlags
	var opts reshard.SwitchOptions
	cmd := &cobra.Command{
		Use:   "switch-writes --keyspace KS",
		Short: "Move the keyspace's writes (and reads) to the targets",
		Long: `Move the keyspace's writes (and reads) to the targets. Gates hold new writes
and transactions in the keyspace and let the open ones finish; the sources
stop taking writes; the targets apply the sources' last changes; reverse
streams (targets -> sources) are set up from the targets' positions; the
serving graph flips and gates run the held writes on the targets. Clients
see a pause, not an error. A failure undoes the steps taken, last first, and
says either that the sources serve as before or which undo failed and what
to do; 'reshard status' shows the same until a switch succeeds.`,
		Args: cobra.NoArgs,
		RunE: a.withTablets(func(ctx context.Context, ts *topo.Server, tabletOpts []control.Option) error {
			r, err := reshard.SwitchWrites(ctx, ts, f.keyspace, f.workflow, opts, tabletOpts...)
			if err != nil {
				return err
			}
			printSwitch("writes switched to the targets", r)
			return nil
		}),
	}
	f.add(cmd)
	switchFlags(cmd, &opts)
	return cmd
}

func reshardReverse(a *app) *cobra.Command {
	var f reshardFlags
	var opts reshard.SwitchOptions
	cmd := &cobra.Command{
		Use:   "reverse --keyspace KS",
		Short: "Undo the last switch: traffic goes back to the sources",
		Args:  cobra.NoArgs,
		RunE: a.withTablets(func(ctx context.Context, ts *topo.Server, tabletOpts []control.Option) error {
			r, err := reshard.ReverseReshard(ctx, ts, f.keyspace, f.workflow, opts, tabletOpts...)
			if err != nil {
				return err
			}
			if r.Stall > 0 {
				printSwitch("writes switched back to the sources", r)
			} else {
				fmt.Println("reads switched back to the sources")
			}
			return nil
		}),
	}
	f.add(cmd)
	switchFlags(cmd, &opts)
	return cmd
}

func reshardComplete(a *app) *cobra.Command {
	var f reshardFlags
	cmd := &cobra.Command{
		Use:   "complete --keyspace KS",
		Short: "End a workflow whose writes are switched: the sources leave the keyspace",
		Long: `End a workflow whose writes are switched: the reverse streams stop and the
source shards' records leave the topology. Their tablets and mysqld keep
running, with their data, until you stop them.`,
		Args: cobra.NoArgs,
		RunE: a.withTopo(func(ctx context.Context, ts *topo.Server) error {
			if err := reshard.CompleteReshard(ctx, ts, f.keyspace, f.workflow); err != nil {
				return err
			}
			fmt.Println("resharding complete; the source shards' tablets can be stopped")
			return nil
		}),
	}
	f.add(cmd)
	return cmd
}

func reshardCancel(a *app) *cobra.Command {
	var f reshardFlags
	cmd := &cobra.Command{
		Use:   "cancel --keyspace KS",
		Short: "Abandon a workflow before switch-writes: the targets' copies are deleted",
		Args:  cobra.NoArgs,
		RunE: a.withTablets(func(ctx context.Context, ts *topo.Server, opts []control.Option) error {
			if err := reshard.CancelReshard(ctx, ts, f.keyspace, f.workflow, opts...); err != nil {
				return err
			}
			fmt.Println("workflow cancelled; the sources serve as before and the targets are empty")
			return nil
		}),
	}
	f.add(cmd)
	return cmd
}
