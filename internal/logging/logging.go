// Package logging builds the one zap logger a process uses and routes the
// standard library's log and Vitess's slog output into it, so every line a
// Shardgate process writes is structured the same way.
package logging

import (
	"fmt"
	"log"
	"log/slog"

	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"go.uber.org/zap/zapcore"
	vtlog "vitess.io/vitess/go/vt/log"
)

// Options select the log level and format.
type Options struct {
	Level  string // debug, info, warn, error
	Format string // "console" (readable, the default) or "json"
}

// New returns a logger writing to stderr and installs it as the target of
// the standard log package and of Vitess's logging.
func New(o Options) (*zap.Logger, error) {
	level := zapcore.InfoLevel
	if o.Level != "" {
		if err := level.Set(o.Level); err != nil {
			return nil, fmt.Errorf("log level %q: use debug, info, warn or error", o.Level)
		}
	}
	var cfg zap.Config
	switch o.Format {
	case "", "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.Development = false
		cfg.DisableStacktrace = true
	case "json":
		cfg = zap.NewProductionConfig()
	default:
		return nil, fmt.Errorf("log format %q: use console or json", o.Format)
	}
	cfg.Level = zap.NewAtomicLevelAt(level)
	logger, err := cfg.Build()
	if err != nil {
		return nil, fmt.Errorf("build logger: %w", err)
	}
	zap.RedirectStdLog(logger.Named("stdlog"))
	log.SetFlags(0)
	vtlog.SwapLogger(slog.New(zapslog.NewHandler(logger.Named("vitess").Core())))
	return logger, nil
}
