package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/control/keyspace"
	"github.com/shardgate/shardgate/topo"
)

func keyspaceCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "keyspace", Short: "Create, list, show and delete keyspaces"}

	var shards, cell string
	var sharded bool
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a keyspace with its shards and serving graph",
		Long: `Create a keyspace with its shards and serving graph.

--shards is a count of even shards (4: -40,40-80,80-c0,c0-) or a list of
shard names that must tile the key space (-80,80-). One shard is an
unsharded keyspace, shard "0", unless --sharded is given.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := keyspace.ParseShards(shards)
			if err != nil {
				return err
			}
			plan, err := keyspace.NewKeyspacePlan(args[0], names, sharded)
			if err != nil {
				return err
			}
			ts, err := a.openTopo(cmd.Context())
			if err != nil {
				return err
			}
			defer ts.Close()
			if err := keyspace.CreateKeyspace(cmd.Context(), ts, plan.Name, plan.Shards, plan.Sharded, control.InCell(cell)); err != nil {
				return err
			}
			kind := "unsharded"
			if plan.Sharded {
				kind = "sharded"
			}
			fmt.Printf("created %s keyspace %s with shards %s\n", kind, plan.Name, strings.Join(plan.Shards, ","))
			return nil
		},
	}
	create.Flags().StringVar(&shards, "shards", "1", "shard count (a power of two) or comma-separated shard names")
	create.Flags().BoolVar(&sharded, "sharded", false, "make a single-shard keyspace sharded (more shards always are)")
	create.Flags().StringVar(&cell, "cell", topo.DefaultCell, "cell whose serving graph to write")

	list := &cobra.Command{
		Use:   "list",
		Short: "List keyspaces with their shards",
		Args:  cobra.NoArgs,
		RunE: a.withTopo(func(ctx context.Context, ts *topo.Server) error {
			kss, err := ts.ListKeyspaces(ctx)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "KEYSPACE\tSHARDED\tSHARDS")
			for _, ks := range kss {
				shards, err := ts.ListShards(ctx, ks.Name)
				if err != nil {
					return err
				}
				names := make([]string, len(shards))
				for i, s := range shards {
					names[i] = s.Name
				}
				fmt.Fprintf(w, "%s\t%v\t%s\n", ks.Name, ks.Sharded, strings.Join(names, ","))
			}
			return w.Flush()
		}),
	}

	get := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a keyspace, its shards and whether it has a vschema",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withTopo(func(ctx context.Context, ts *topo.Server) error {
				ks, err := ts.GetKeyspace(ctx, args[0])
				if err != nil {
					return err
				}
				fmt.Printf("keyspace: %s\nsharded:  %v\n", ks.Name, ks.Sharded)
				if _, version, err := ts.GetVSchema(ctx, ks.Name); err == nil {
					fmt.Printf("vschema:  version %d (shardctl vschema get %s)\n", version, ks.Name)
				} else {
					fmt.Printf("vschema:  none\n")
				}
				fmt.Println()
				return printShards(ctx, ts, ks.Name)
			})(cmd, args)
		},
	}

	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a keyspace with its vschema, shards and serving graph (its tablets must be stopped)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withTopo(func(ctx context.Context, ts *topo.Server) error {
				if err := ts.DeleteKeyspace(ctx, args[0]); err != nil {
					return err
				}
				fmt.Printf("deleted keyspace %s\n", args[0])
				return nil
			})(cmd, args)
		},
	}
	cmd.AddCommand(create, list, get, del)
	return cmd
}

func shardCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "shard", Short: "List shards, move their primaries"}
	cmd.AddCommand(reparentCommands(a)...)
	cmd.AddCommand(&cobra.Command{
		Use:   "list KEYSPACE",
		Short: "List a keyspace's shards with their key ranges and primaries",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withTopo(func(ctx context.Context, ts *topo.Server) error {
				if _, err := ts.GetKeyspace(ctx, args[0]); err != nil {
					return err
				}
				return printShards(ctx, ts, args[0])
			})(cmd, args)
		},
	})
	return cmd
}

func printShards(ctx context.Context, ts *topo.Server, keyspace string) error {
	shards, err := ts.ListShards(ctx, keyspace)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "SHARD\tKEY RANGE\tPRIMARY\tTERM\tPRIMARY SERVING")
	for _, s := range shards {
		kr := fmt.Sprintf("[%x, %x)", s.KeyRange.GetStart(), s.KeyRange.GetEnd())
		primary := s.PrimaryAlias
		if primary == "" {
			primary = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%v\n", s.Name, kr, primary, s.PrimaryTerm, s.PrimaryServing)
	}
	return w.Flush()
}
