// Command shardctl administers a Shardgate cluster: keyspaces, shards,
// tablets, vschemas and schemas in the topology, and `shardctl local` runs
// a whole cluster on one machine. It only parses flags and calls
// control/... and localcluster.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/internal/logging"
	"github.com/shardgate/shardgate/internal/tlsconfig"
	"github.com/shardgate/shardgate/topo"
)

// app holds the global flags and what they build.
type app struct {
	topoEndpoints []string
	topoRoot      string
	topoAuth      topo.EtcdAuth
	tabletTLS     tlsconfig.Client
	logOpts       logging.Options
	log           *zap.Logger
}

// tabletOptions are how operations reach tablets: with TLS when
// --tablet-ca (or a client certificate) is given.
func (a *app) tabletOptions() ([]control.Option, error) {
	cfg, err := a.tabletTLS.Config()
	if err != nil || cfg == nil {
		return nil, err
	}
	return []control.Option{control.WithTabletTLS(cfg)}, nil
}

// openTopo connects to the topology named by --topo and --topo-root.
func (a *app) openTopo(ctx context.Context) (*topo.Server, error) {
	opts, err := a.topoAuth.Options()
	if err != nil {
		return nil, err
	}
	return control.OpenTopo(ctx, a.topoEndpoints, a.topoRoot, a.log, opts...)
}

// withTopo runs fn with an open topology and closes it afterwards.
func (a *app) withTopo(fn func(ctx context.Context, ts *topo.Server) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		ts, err := a.openTopo(cmd.Context())
		if err != nil {
			return err
		}
		defer ts.Close()
		return fn(cmd.Context(), ts)
	}
}

// withTablets is withTopo for operations that reach tablets too (with
// TLS when the flags say so).
func (a *app) withTablets(fn func(ctx context.Context, ts *topo.Server, opts []control.Option) error) func(*cobra.Command, []string) error {
	return a.withTopo(func(ctx context.Context, ts *topo.Server) error {
		opts, err := a.tabletOptions()
		if err != nil {
			return err
		}
		return fn(ctx, ts, opts)
	})
}

func main() {
	a := &app{}
	root := &cobra.Command{
		Use:           "shardctl",
		Short:         "Administer a Shardgate cluster, or run one locally",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			log, err := logging.New(a.logOpts)
			if err != nil {
				return err
			}
			a.log = log
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringSliceVar(&a.topoEndpoints, "topo", []string{"127.0.0.1:2379"}, "etcd endpoints of the topology")
	pf.StringVar(&a.topoRoot, "topo-root", topo.DefaultRoot, "key prefix of the topology in etcd")
	a.topoAuth.AddFlags(pf)
	pf.StringVar(&a.tabletTLS.CAFile, "tablet-ca", "", "PEM CA that signed the tablets' certificates: reach tablets with TLS")
	pf.StringVar(&a.tabletTLS.CertFile, "tablet-cert", "", "PEM certificate to present to tablets that require one (mutual TLS)")
	pf.StringVar(&a.tabletTLS.KeyFile, "tablet-key", "", "PEM key of --tablet-cert")
	pf.StringVar(&a.tabletTLS.ServerName, "tablet-server-name", "", "name the tablets' certificates carry (default: the host each tablet registered)")
	pf.StringVar(&a.logOpts.Level, "log-level", "info", "log level: debug, info, warn, error")
	pf.StringVar(&a.logOpts.Format, "log-format", "console", "log format: console or json (one JSON object a line, for a container's log collector)")

	root.AddCommand(
		keyspaceCommand(a),
		shardCommand(a),
		tabletCommand(a),
		vschemaCommand(a),
		schemaCommand(a),
		transactionCommand(a),
		insightsCommand(a),
		reshardCommand(a),
		backupCommand(a),
		localCommand(a),
		serveCommand(a),
		explainCommand(),
	)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := root.ExecuteContext(ctx)
	stop()
	if a.log != nil {
		_ = a.log.Sync()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "shardctl:", err)
		os.Exit(1)
	}
}
