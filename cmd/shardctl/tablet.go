package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/topo"
)

func tabletCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "tablet", Short: "List tablets"}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List every tablet with its role, health (SERVING, NOT_SERVING or UNREACHABLE) and replication",
		Args:  cobra.NoArgs,
		RunE: a.withTopo(func(ctx context.Context, ts *topo.Server) error {
			opts, err := a.tabletOptions()
			if err != nil {
				return err
			}
			statuses, err := control.ListTablets(ctx, ts, opts...)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "ALIAS\tKEYSPACE\tSHARD\tTYPE\tADDRESS\tSTATE\tREPLICATION\tDETAIL")
			for _, st := range statuses {
				t := st.Tablet
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Alias, t.Keyspace, t.Shard,
					strings.ToLower(st.Role().String()), st.Address(), st.State, st.Replication(), st.Detail)
			}
			return w.Flush()
		}),
	})
	return cmd
}
