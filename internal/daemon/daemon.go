// Package daemon runs a long-lived Shardgate process: it builds the logger
// and a context that ends on SIGINT or SIGTERM, so every command's main
// only parses flags and names what to run.
package daemon

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/internal/logging"
)

// Run calls serve with a logger and a context cancelled by SIGINT or
// SIGTERM. serve should return once the context ends; its error is logged
// and returned. It first tunes the Go runtime for a server's many small
// requests: it re-executes the process once (KeepSysmonAwake) and sets a
// floor under the heap (reserveHeapFloor).
func Run(name string, logOpts logging.Options, serve func(ctx context.Context, log *zap.Logger) error) error {
	KeepSysmonAwake()
	reserveHeapFloor()
	log, err := logging.New(logOpts)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, log); err != nil {
		log.Error(name+" failed", zap.Error(err))
		return err
	}
	return nil
}
