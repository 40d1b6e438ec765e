package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/control/metricsampler"
	uipkg "github.com/shardgate/shardgate/control/ui"
	"github.com/shardgate/shardgate/internal/debughttp"
	"github.com/shardgate/shardgate/internal/secretfile"
	"github.com/shardgate/shardgate/topo"
)

// DefaultServeAddr is where `shardctl serve` listens unless told: Vitess's
// vtctld web port, on loopback (the UI has no login of its own).
const DefaultServeAddr = "127.0.0.1:15000"

func serveCommand(a *app) *cobra.Command {
	var addr, cell string
	var allowHosts []string
	var sampleInterval time.Duration
	var debugTokenFile, tokenFile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the admin web UI: traffic charts, top queries, topology, tablet health, operations",
		Long: `serve runs the admin web UI on --addr until interrupted. Its pages show
queries per second, latency and errors per keyspace, shard and tablet
(scraped from every gate's and tablet's /metrics every --sample-interval
while the UI runs; no Prometheus server needed), the statements the gates
ran (their /api/query-stats), keyspaces with their vschema and serving
graph, tablets with their health, replication and pools, gates,
resharding workflows with copy progress, lag and ETA, backups running and
each shard's backups and archived binlogs, and two-phase commits waiting
for recovery, read from etcd, the tablets and the gates (pages update
every few seconds). /api/cluster and /api/series serve JSON for scripts.
The UI only reads: run operations with the other shardctl commands.

The UI has no users of its own: keep it on loopback (the default), give
--token-file, or put it behind a proxy that authenticates.`,
		Args: cobra.NoArgs,
		RunE: a.withTablets(func(ctx context.Context, ts *topo.Server, opts []control.Option) error {
			ui, err := uipkg.New(ts, cell, a.log, opts...)
			if err != nil {
				return err
			}
			ui.AllowHosts(allowHosts...)
			ui.SetSampleInterval(sampleInterval)
			if debugTokenFile != "" {
				token, err := secretfile.Read(debugTokenFile)
				if err != nil {
					return fmt.Errorf("--debug-token-file: %w", err)
				}
				ui.SetDebugToken(token)
			}
			var uiToken string
			if tokenFile != "" {
				if uiToken, err = secretfile.Read(tokenFile); err != nil {
					return fmt.Errorf("--token-file: %w", err)
				}
			}
			// /metrics (shardctl_build_info, the runtime's) beside the pages.
			mux := http.NewServeMux()
			mux.Handle("/metrics", promhttp.HandlerFor(debughttp.NewRegistry("shardctl"), promhttp.HandlerOpts{}))
			mux.Handle("/", ui.Handler())
			handler := uipkg.RequireToken(uiToken, mux)
			go ui.Run(ctx)
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", addr, err)
			}
			srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
			fmt.Printf("admin UI on http://%s/\n", ln.Addr())
			go func() {
				<-ctx.Done()
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(sctx)
			}()
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			a.log.Info("admin UI stopped", zap.String("addr", ln.Addr().String()))
			return nil
		}),
	}
	cmd.Flags().StringVar(&addr, "addr", DefaultServeAddr, "host:port to serve the UI on")
	cmd.Flags().StringVar(&cell, "cell", "zone1", "cell whose serving graph the UI shows")
	cmd.Flags().DurationVar(&sampleInterval, "sample-interval", metricsampler.DefaultInterval, "how often to scrape the gates' and tablets' /metrics for the charts")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "file holding a token the UI requires (open it once as /?token=..., or send Authorization: Bearer); /healthz stays open")
	cmd.Flags().StringVar(&debugTokenFile, "debug-token-file", "", "file holding the gates' debug token (their --debug-token-file), sent to read their /api/query-stats")
	cmd.Flags().StringSliceVar(&allowHosts, "allow-host", nil, "host names requests may use besides IP addresses and localhost (a proxy's name); others are refused, against DNS rebinding")
	return cmd
}
