package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/shardgate/shardgate/control/keyspace"
	"github.com/shardgate/shardgate/topo"
)

// readInput reads a file, or stdin for "-".
func readInput(path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("--file is required (- reads standard input)")
	}
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

func vschemaCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "vschema", Short: "Show and apply vschemas"}
	cmd.AddCommand(&cobra.Command{
		Use:   "get KEYSPACE",
		Short: "Print a keyspace's vschema JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withTopo(func(ctx context.Context, ts *topo.Server) error {
				data, _, err := ts.GetVSchema(ctx, args[0])
				if err != nil {
					return err
				}
				os.Stdout.Write(data)
				if !bytes.HasSuffix(data, []byte("\n")) {
					fmt.Println()
				}
				return nil
			})(cmd, args)
		},
	})

	var file string
	apply := &cobra.Command{
		Use:   "apply KEYSPACE --file F",
		Short: "Validate a vschema and store it; an invalid one is rejected with the culprit named",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readInput(file)
			if err != nil {
				return err
			}
			return a.withTopo(func(ctx context.Context, ts *topo.Server) error {
				if err := keyspace.ApplyVSchema(ctx, ts, args[0], data); err != nil {
					return err
				}
				fmt.Printf("applied the vschema of keyspace %s\n", args[0])
				return nil
			})(cmd, args)
		},
	}
	apply.Flags().StringVar(&file, "file", "", "vschema JSON file (- for standard input)")
	cmd.AddCommand(apply)
	return cmd
}
