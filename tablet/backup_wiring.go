package tablet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/shardgate/shardgate/tablet/backup"
	"github.com/shardgate/shardgate/tablet/mysqld"
)

// mysqldConfig is the tablet's own server, when it runs one
// (--mysqld-data-dir).
func (c *Config) mysqldConfig(log *zap.Logger) mysqld.Config {
	return mysqld.Config{DataDir: c.MysqldDataDir, Port: c.MySQLPort, ServerID: c.MysqldServerID, Durability: c.MysqldDurability, Log: log.Named("mysqld"),
		// The server starts fenced: only users with READ_ONLY ADMIN (the
		// tablet's own) write until the tablet serves as the shard's
		// primary and turns read_only off (queryservice/server_fence.go).
		ExtraArgs: []string{"--read-only=ON"}}
}

// stopOwnMysqld shuts the tablet's own server down cleanly when the tablet
// exits (--stop-mysqld-on-exit): in a container the server would otherwise
// be killed with the container once the tablet, its main process, is gone.
// It waits at most MysqldStopTimeout, then kills the server.
func stopOwnMysqld(cfg Config, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.MysqldStopTimeout)
	defer cancel()
	began := time.Now()
	if err := mysqld.StopDataDir(ctx, cfg.MysqldDataDir); err != nil {
		log.Error("stopping mysqld on exit", zap.String("datadir", cfg.MysqldDataDir), zap.Error(err))
		return
	}
	log.Info("mysqld stopped on exit", zap.String("datadir", cfg.MysqldDataDir), zap.Duration("took", time.Since(began)))
}

// ensureMysqld starts the tablet's own server if it does not run, after
// initializing its data directory if there is none. beforeInit, when set,
// runs before a new data directory is initialized: the tablet records
// there that the shard must be restored into it, so that a tablet that
// dies before that restore succeeds restores again when it restarts (its
// server initialized and running by then) instead of serving an empty
// shard.
func ensureMysqld(ctx context.Context, cfg mysqld.Config, log *zap.Logger, beforeInit func() error) error {
	if pid, ok := mysqld.Running(cfg.DataDir); ok {
		log.Info("mysqld already runs", zap.Int("pid", pid), zap.String("datadir", cfg.DataDir))
		return nil
	}
	if _, err := os.Stat(filepath.Join(cfg.ServerDataDir(), "mysql")); err != nil {
		log.Info("mysqld has no data directory: initializing a new one", zap.String("datadir", cfg.ServerDataDir()))
		if beforeInit != nil {
			if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
				return err
			}
			if err := beforeInit(); err != nil {
				return err
			}
		}
		ictx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		if err := mysqld.Init(ictx, cfg); err != nil {
			return err
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if _, err := mysqld.Start(sctx, cfg); err != nil {
		return err
	}
	return nil
}

// finishPendingRestore retries the shard's pending restore (a new server
// to restore, or a whole-shard restore that failed half-way) until it
// succeeds or ctx ends: the tablet serves only after. /debug/status shows
// the attempts meanwhile.
func finishPendingRestore(ctx context.Context, backups *backup.Engine, log *zap.Logger) error {
	wait := 5 * time.Second
	for attempt := 1; ; attempt++ {
		desc, pending := backups.RestorePending()
		if !pending {
			return nil
		}
		log.Info("a restore of the shard is pending: restoring before serving", zap.Int("attempt", attempt), zap.String("pending", desc))
		err := backups.ResumeRestore(ctx)
		if err == nil {
			if _, pending = backups.RestorePending(); !pending {
				return nil
			}
			err = errors.New("the restore succeeded but is still recorded as pending")
		}
		if ctx.Err() != nil {
			return fmt.Errorf("restore the shard before serving: %w", err)
		}
		log.Error("restoring the shard failed; retrying", zap.Error(err), zap.Duration("in", wait))
		select {
		case <-ctx.Done():
			return fmt.Errorf("restore the shard before serving: %w", err)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}

// backupStateDir is the backup engine's state directory: --backup-state-dir,
// or beside the tablet's own server's data, or in the system's temporary
// directory.
func (c *Config) backupStateDir() string {
	switch {
	case c.BackupStateDir != "":
		return c.BackupStateDir
	case c.MysqldDataDir != "":
		return filepath.Join(c.MysqldDataDir, "backup-state")
	}
	return filepath.Join(os.TempDir(), "shardtablet-"+c.Alias)
}

// newBackupEngine builds the tablet's backup engine from its configuration.
func newBackupEngine(ctx context.Context, cfg Config, log *zap.Logger, reg prometheus.Registerer) (*backup.Engine, error) {
	bcfg := cfg.Backup
	bcfg.Alias, bcfg.Keyspace, bcfg.Shard, bcfg.Database = cfg.Alias, cfg.Keyspace, cfg.Shard, cfg.Keyspace
	bcfg.Storage = cfg.BackupStorage
	bcfg.StateDir = cfg.backupStateDir()
	bcfg.MySQL = backup.MySQL{Host: cfg.MySQLHost, Port: cfg.MySQLPort, Socket: cfg.MySQLSocket, User: cfg.MySQLUser, Password: cfg.MySQLPassword}
	if cfg.MysqldDataDir != "" {
		m := cfg.mysqldConfig(log)
		bcfg.Mysqld = &m
	}
	e, err := backup.New(ctx, bcfg, log, reg)
	if err != nil {
		return nil, fmt.Errorf("backups: %w", err)
	}
	return e, nil
}
