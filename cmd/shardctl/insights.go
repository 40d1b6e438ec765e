package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shardgate/shardgate/control/insights"
	"github.com/shardgate/shardgate/internal/querystats"
	"github.com/shardgate/shardgate/internal/secretfile"
	"github.com/shardgate/shardgate/topo"
)

func insightsCommand(a *app) *cobra.Command {
	var gate, sortBy, keyspace, tokenFile string
	var limit, width int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "insights",
		Short: "The statements that load the cluster: counts, latency percentiles, errors, rows, shards, from every gate",
		Long: `Print the statements the gates ran, one row per normalized statement
(values replaced by placeholders) and keyspace, merged across the gates:
calls, errors, total and average time, p50/p95/p99 latency, rows returned
to clients, rows the shards sent per row returned (far above 1: the gate
filters or limits rows a scatter read), and shard calls per execution.

--sort picks the column, the most first: total_ms (where the time goes,
the default), calls, errors, p99_ms, rows_read_per_returned, ...; columns:
` + strings.Join(querystats.ColumnNames(), ", ") + `.

The statistics live in each gate's memory since it started, bounded by its
--query-stats-max-statements; SHOW QUERY STATS on a gate shows its own.`,
		Args: cobra.NoArgs,
		RunE: a.withTopo(func(ctx context.Context, ts *topo.Server) error {
			col, ok := querystats.ColumnByName(sortBy)
			if !ok {
				return fmt.Errorf("--sort %q: no such column; columns: %s", sortBy, strings.Join(querystats.ColumnNames(), ", "))
			}
			reader := insights.Reader{}
			if tokenFile != "" {
				token, err := secretfile.Read(tokenFile)
				if err != nil {
					return fmt.Errorf("--debug-token-file: %w", err)
				}
				reader.Token = token
			}
			cluster, err := reader.Gather(ctx, ts, gate)
			if err != nil {
				return err
			}
			cluster.Statements = insights.Top(cluster.Statements, col, keyspace, limit)
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(cluster)
			}
			for _, p := range cluster.Problems {
				fmt.Fprintln(os.Stderr, "could not read "+p)
			}
			if len(cluster.Gates) == 0 {
				return fmt.Errorf("no gate's statistics could be read")
			}
			fmt.Printf("%d statements from %d gates (%s), by %s:\n", len(cluster.Statements), len(cluster.Gates), strings.Join(cluster.Gates, ", "), col.Name)
			if cluster.Evictions > 0 {
				fmt.Printf("(%d rarely run statements were dropped to keep the gates' bound: the list may miss some)\n", cluster.Evictions)
			}
			return insights.WriteTable(os.Stdout, cluster.Statements, width)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&gate, "gate", "", "only this gate (its name or id); default: every registered gate")
	f.StringVar(&sortBy, "sort", "total_ms", "the column to order by, the most first")
	f.StringVar(&keyspace, "keyspace", "", "only statements of this keyspace")
	f.IntVar(&limit, "limit", 20, "print the first N statements (0: all)")
	f.IntVar(&width, "width", 100, "cut queries longer than this (0: never)")
	f.BoolVar(&asJSON, "json", false, "print JSON (with the latency histograms)")
	f.StringVar(&tokenFile, "debug-token-file", "", "file holding the gates' debug token (their --debug-token-file), which they require for their statistics")
	return cmd
}
