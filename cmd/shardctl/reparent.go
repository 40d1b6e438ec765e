package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/tablet/reparent"
	"github.com/shardgate/shardgate/tablet/tabletclient"
	"github.com/shardgate/shardgate/topo"
)

// reparentCommands are `shard reparent` and `shard emergency-reparent`.
func reparentCommands(a *app) []*cobra.Command {
	var to string
	planned := &cobra.Command{
		Use:   "reparent KEYSPACE/SHARD",
		Short: "Move a shard's primary to a replica while both are well (gates hold the shard's writes meanwhile)",
		Long: `Move a shard's primary to one of its replicas: the old primary stops taking
writes and lets its open transactions finish, the candidate applies all the
old primary wrote and is promoted, and the other tablets, the old primary
among them, follow it. Gates hold the shard's writes meanwhile and run them
on the new primary: clients see a pause, not an error. Without --to, the
most advanced replica is chosen.`,
		Example: "  shardctl shard reparent commerce/-80\n  shardctl shard reparent commerce/-80 --to zone1-201",
		Args:    cobra.ExactArgs(1),
		RunE:    runReparent(a, reparent.Planned, &to, "reparented"),
	}
	planned.Flags().StringVar(&to, "to", "", "alias of the replica to promote (default: the most advanced)")

	var eto string
	emergency := &cobra.Command{
		Use:   "emergency-reparent KEYSPACE/SHARD",
		Short: "Promote the most advanced replica of a shard whose primary is gone",
		Long: `Promote a replica of a shard whose primary is down (its tablet gone or its
lease lost): the replicas stop applying, the one that received the most is
promoted once it has applied all it received, and the others follow it.
Replica tablets do this by themselves a few seconds after a primary stops;
this command does it at once. It refuses while the primary holds its lease
(it is alive: use reparent).`,
		Args: cobra.ExactArgs(1),
		RunE: runReparent(a, reparent.Emergency, &eto, "failed over"),
	}
	emergency.Flags().StringVar(&eto, "to", "", "alias of the replica to promote (default: the most advanced; refused if another received more)")
	return []*cobra.Command{planned, emergency}
}

// runReparent runs a reparent (reparent.Planned or reparent.Emergency) of
// the shard named by the command's argument and prints its result.
func runReparent(a *app, run func(context.Context, *topo.Server, string, string, reparent.Options) (*reparent.Result, error), to *string, done string) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ks, shard, err := splitShard(args[0])
		if err != nil {
			return err
		}
		return a.withTablets(func(ctx context.Context, ts *topo.Server, opts []control.Option) error {
			res, err := run(ctx, ts, ks, shard, reparentOptions(*to, opts))
			if err != nil {
				return err
			}
			fmt.Printf("%s %s/%s: %s\n", done, ks, shard, res.Describe())
			return nil
		})(cmd, args)
	}
}

func reparentOptions(to string, opts []control.Option) reparent.Options {
	return reparent.Options{
		To:       to,
		Dial:     func(t *topopb.Tablet) (*tabletclient.Conn, error) { return control.DialTablet(t, opts...) },
		Progress: func(step string) { fmt.Printf("%s  %s\n", time.Now().Format("15:04:05.000"), step) },
	}
}

func splitShard(arg string) (string, string, error) {
	ks, shard, ok := strings.Cut(arg, "/")
	if !ok || ks == "" || shard == "" {
		return "", "", fmt.Errorf("%q: name the shard as KEYSPACE/SHARD (e.g. commerce/-80)", arg)
	}
	return ks, shard, nil
}
