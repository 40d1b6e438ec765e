package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shardgate/shardgate/control/schema"
	"github.com/shardgate/shardgate/topo"
)

func schemaCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "schema", Short: "Apply schema changes"}
	var file string
	apply := &cobra.Command{
		Use:   "apply KEYSPACE --file F",
		Short: "Run a SQL file on the primary of every shard of a keyspace",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readInput(file)
			if err != nil {
				return err
			}
			stmts, err := schema.SplitSQL(string(data))
			if err != nil {
				return err
			}
			opts, err := a.tabletOptions()
			if err != nil {
				return err
			}
			return a.withTopo(func(ctx context.Context, ts *topo.Server) error {
				if err := schema.ApplySchema(ctx, ts, args[0], string(data), opts...); err != nil {
					return err
				}
				shards, err := ts.ListShards(ctx, args[0])
				if err != nil {
					return err
				}
				names := make([]string, len(shards))
				for i, s := range shards {
					names[i] = s.Name
				}
				noun := "statements"
				if len(stmts) == 1 {
					noun = "statement"
				}
				fmt.Printf("applied %d %s to keyspace %s on shards %s\n", len(stmts), noun, args[0], strings.Join(names, ","))
				return nil
			})(cmd, args)
		},
	}
	apply.Flags().StringVar(&file, "file", "", "SQL file (- for standard input)")
	cmd.AddCommand(apply)
	return cmd
}
