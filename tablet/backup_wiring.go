package tablet

import (
	"context"
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
	return mysqld.Config{DataDir: c.MysqldDataDir, Port: c.MySQLPort, ServerID: c.MysqldServerID, Log: log.Named("mysqld")}
}

// ensureMysqld starts the tablet's own server if it does not run, after
// initializing its data directory if there is none. It reports whether the
// data directory is new: the tablet then restores its shard into it.
func ensureMysqld(ctx context.Context, cfg mysqld.Config, log *zap.Logger) (fresh bool, err error) {
	if pid, ok := mysqld.Running(cfg.DataDir); ok {
		log.Info("mysqld already runs", zap.Int("pid", pid), zap.String("datadir", cfg.DataDir))
		return false, nil
	}
	if _, err := os.Stat(filepath.Join(cfg.ServerDataDir(), "mysql")); err != nil {
		fresh = true
		log.Info("mysqld has no data directory: initializing a new one", zap.String("datadir", cfg.ServerDataDir()))
		ictx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		if err := mysqld.Init(ictx, cfg); err != nil {
			return false, err
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if _, err := mysqld.Start(sctx, cfg); err != nil {
		return false, err
	}
	return fresh, nil
}

// newBackupEngine builds the tablet's backup engine from its configuration.
func newBackupEngine(ctx context.Context, cfg Config, log *zap.Logger, reg prometheus.Registerer) (*backup.Engine, error) {
	bcfg := cfg.Backup
	bcfg.Alias, bcfg.Keyspace, bcfg.Shard, bcfg.Database = cfg.Alias, cfg.Keyspace, cfg.Shard, cfg.Keyspace
	bcfg.Storage = cfg.BackupStorage
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
