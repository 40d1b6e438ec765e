package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shardgate/shardgate/control/keyspace"
)

func explainCommand() *cobra.Command {
	var keyspaces []string
	var vschemas, schemas []string
	var target string
	cmd := &cobra.Command{
		Use:   "explain --keyspace NAME:SHARDS --vschema NAME=FILE [--schema NAME=FILE] [--target KEYSPACE] SQL",
		Short: "Show how a statement would be planned and what each shard would run, without a cluster",
		Long: `explain plans a statement against vschemas and shard layouts given on the
command line, with no cluster, and prints the plan and the statement each
shard would run. Use it to see why a query scatters before deploying it.
Statements the gate evaluates itself (joins across shards, derived
tables) need the tables' columns: give the CREATE TABLE statements with
--schema.

  shardctl explain --keyspace commerce:4 --vschema commerce=vschema.json \
      --schema commerce=schema.sql \
      "select * from customer where customer_id in (1, 2)"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := keyspaceFiles("--vschema", vschemas, keyspaces)
			if err != nil {
				return err
			}
			schemaFiles, err := keyspaceFiles("--schema", schemas, keyspaces)
			if err != nil {
				return err
			}
			var list []keyspace.ExplainKeyspace
			for _, spec := range keyspaces {
				name, shardSpec, ok := strings.Cut(spec, ":")
				if !ok {
					shardSpec = "1"
				}
				shards, err := keyspace.ParseShards(shardSpec)
				if err != nil {
					return fmt.Errorf("--keyspace %s: %w", spec, err)
				}
				k := keyspace.ExplainKeyspace{Name: name, Shards: shards}
				if path, ok := files[name]; ok {
					if k.VSchema, err = os.ReadFile(path); err != nil {
						return fmt.Errorf("--vschema %s: %w", name, err)
					}
				}
				if path, ok := schemaFiles[name]; ok {
					if k.Schema, err = os.ReadFile(path); err != nil {
						return fmt.Errorf("--schema %s: %w", name, err)
					}
				}
				list = append(list, k)
			}
			if len(list) == 0 {
				return fmt.Errorf("name at least one keyspace with --keyspace NAME:SHARDS")
			}
			if target == "" {
				target = list[0].Name
			}
			ex, err := keyspace.Explain(list, target, args[0])
			if err != nil {
				return err
			}
			fmt.Println("plan:", ex.Plan)
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "#\tKEYSPACE\tSHARD\tQUERY")
			for i, q := range ex.Queries {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", i, q.Keyspace, q.Shard, q.SQL)
			}
			return w.Flush()
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&keyspaces, "keyspace", nil, "keyspace as NAME:SHARDS (commerce:4, lookup:1, ks:-80,80-); repeatable")
	f.StringArrayVar(&vschemas, "vschema", nil, "vschema file of a keyspace as NAME=FILE; repeatable")
	f.StringArrayVar(&schemas, "schema", nil, "CREATE TABLE statements of a keyspace as NAME=FILE; repeatable")
	f.StringVar(&target, "target", "", "keyspace the statement runs in (default: the first --keyspace)")
	return cmd
}
