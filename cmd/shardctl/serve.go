package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/control/ui"
	"github.com/shardgate/shardgate/topo"
)

// DefaultServeAddr is where `shardctl serve` listens unless told: Vitess's
// vtctld web port, on loopback (the UI has no login of its own).
const DefaultServeAddr = "127.0.0.1:15000"

func serveCommand(a *app) *cobra.Command {
	var addr, cell string
	var allowHosts []string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the admin web UI: topology, tablet health, resharding progress, backups",
		Long: `serve runs the admin web UI on --addr until interrupted. Its pages show
keyspaces and their serving graph, tablets and their health, gates,
resharding workflows with copy progress, lag and ETA, each shard's backups
and archived binlogs, and two-phase commits waiting for recovery, read
from etcd and the tablets on every request (pages reload every few
seconds). /api/cluster serves the same as JSON. The UI only reads: run
operations with the other shardctl commands.

The UI has no login: keep it on loopback (the default), or put it behind
a proxy that authenticates.`,
		Args: cobra.NoArgs,
		RunE: a.withTablets(func(ctx context.Context, ts *topo.Server, opts []control.Option) error {
			ui, err := ui.New(ts, cell, a.log, opts...)
			if err != nil {
				return err
			}
			ui.AllowHosts(allowHosts...)
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", addr, err)
			}
			srv := &http.Server{Handler: ui.Handler(), ReadHeaderTimeout: 10 * time.Second}
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
	cmd.Flags().StringSliceVar(&allowHosts, "allow-host", nil, "host names requests may use besides IP addresses and localhost (a proxy's name); others are refused, against DNS rebinding")
	return cmd
}
