package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shardgate/shardgate/control/transactions"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

func transactionCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "transaction", Short: "List and resolve two-phase commits (transaction_mode 'twopc') not finished yet"}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the two-phase commits whose decision record is still in the topology",
		Long: `List the two-phase commits whose decision record is still in the topology:
in flight on a running gate, or left by a gate that is gone and waiting for
a gate's recovery (or for ` + "`shardctl transaction resolve`" + `). STATE is the
decision: PREPARE (none yet; rolled back if its gate is gone), COMMIT or
ROLLBACK.`,
		Args: cobra.NoArgs,
		RunE: a.withTopo(func(ctx context.Context, ts *topo.Server) error {
			txs, err := transactions.ListTransactions(ctx, ts)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "DTID\tSTATE\tAGE\tGATE\tGATE STATE\tSHARDS")
			for _, tx := range txs {
				rec := tx.Record
				gate := "gone"
				if tx.GateRegistered {
					gate = "registered"
				}
				shards := make([]string, len(rec.Participants))
				for i, p := range rec.Participants {
					shards[i] = p.Keyspace + "/" + p.Shard
				}
				age := time.Since(time.Unix(0, rec.CreatedUnixNanos)).Round(time.Second)
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", rec.Dtid, rec.State, age, rec.GateId, gate, strings.Join(shards, ","))
			}
			return w.Flush()
		}),
	})

	var commit, rollback bool
	resolve := &cobra.Command{
		Use:   "resolve DTID --commit|--rollback",
		Short: "Finish a two-phase commit by hand",
		Long: `Finish a two-phase commit by hand: tell every shard to commit or roll back
its prepared branch, then delete the decision record.

A transaction decided already (COMMIT or ROLLBACK) can only be finished the
way it was decided. One still in PREPARE can always be rolled back (its gate,
if running, then rolls back too), and committed only when every shard holds
its branch prepared. Gates do this by themselves for transactions whose gate
is gone; use it when that cannot happen or should not be waited for.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if commit == rollback {
				return errors.New("give exactly one of --commit and --rollback")
			}
			opts, err := a.tabletOptions()
			if err != nil {
				return err
			}
			ts, err := a.openTopo(cmd.Context())
			if err != nil {
				return err
			}
			defer ts.Close()
			out, err := transactions.ResolveTransaction(cmd.Context(), ts, args[0], commit, opts...)
			if err != nil {
				return err
			}
			done := "rolled back"
			if out.State == topopb.TransactionRecord_COMMIT {
				done = "committed"
			}
			fmt.Printf("distributed transaction %s: %s on every shard", args[0], done)
			if len(out.NotPrepared) > 0 {
				fmt.Printf(" (already ended on %s)", strings.Join(out.NotPrepared, ", "))
			}
			fmt.Println()
			return nil
		},
	}
	resolve.Flags().BoolVar(&commit, "commit", false, "commit every shard's branch")
	resolve.Flags().BoolVar(&rollback, "rollback", false, "roll back every shard's branch")
	cmd.AddCommand(resolve)
	return cmd
}
