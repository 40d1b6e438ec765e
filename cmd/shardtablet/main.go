// Command shardtablet fronts one MySQL server: it registers in the
// topology and serves the query service that gates use to reach the shard.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/shardgate/shardgate/internal/daemon"
	"github.com/shardgate/shardgate/internal/logging"
	"github.com/shardgate/shardgate/tablet"
)

func main() {
	cfg := tablet.Defaults()
	var logOpts logging.Options
	cmd := &cobra.Command{
		Use:           "shardtablet",
		Short:         "Serve one MySQL server's shard to Shardgate gates",
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(*cobra.Command, []string) error {
			return daemon.Run("shardtablet", logOpts, func(ctx context.Context, log *zap.Logger) error {
				return tablet.Run(ctx, cfg, log)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Alias, "alias", cfg.Alias, "tablet alias, <cell>-<uid> (e.g. zone1-100)")
	f.StringVar(&cfg.Cell, "cell", cfg.Cell, "cell the tablet runs in")
	f.StringVar(&cfg.Keyspace, "keyspace", cfg.Keyspace, "keyspace the tablet serves")
	f.StringVar(&cfg.Shard, "shard", cfg.Shard, "shard the tablet serves (0, -80, 80-, ...)")
	f.StringVar(&cfg.Type, "type", cfg.Type, "tablet type: primary, replica or rdonly")
	f.StringVar(&cfg.Hostname, "hostname", cfg.Hostname, "host name gates use to reach this tablet")
	f.IntVar(&cfg.GRPCPort, "grpc-port", cfg.GRPCPort, "gRPC port of the query service")
	f.IntVar(&cfg.QueryPort, "query-port", cfg.QueryPort, "port of the lean query protocol gates use for statements and transactions (0: gRPC only)")
	f.IntVar(&cfg.HTTPPort, "http-port", cfg.HTTPPort, "HTTP port for /metrics and /debug/status")
	f.StringVar(&cfg.MySQLHost, "mysql-host", cfg.MySQLHost, "MySQL server host")
	f.IntVar(&cfg.MySQLPort, "mysql-port", cfg.MySQLPort, "MySQL server port")
	f.StringVar(&cfg.MySQLSocket, "mysql-socket", cfg.MySQLSocket, "MySQL server unix socket (preferred over host and port)")
	f.StringVar(&cfg.MySQLUser, "mysql-user", cfg.MySQLUser, "MySQL user")
	f.StringVar(&cfg.MySQLPassword, "mysql-password", cfg.MySQLPassword, "MySQL password (visible to anyone who lists processes: prefer --mysql-password-file or SHARDTABLET_MYSQL_PASSWORD)")
	f.StringVar(&cfg.MySQLPasswordFile, "mysql-password-file", "", "file holding the MySQL password (mode 600)")
	f.StringVar(&cfg.ReplicationPasswordFile, "replication-password-file", "", "file holding --replication-user's password (mode 600; or SHARDTABLET_REPLICATION_PASSWORD)")
	f.StringVar(&cfg.Query.DirectReads.User, "direct-read-user", "", "offer gates autocommit reads straight on MariaDB as this user, which the tablet creates with SELECT on the keyspace's database only (empty: every statement goes through the tablet)")
	f.StringVar(&cfg.DirectReadPasswordFile, "direct-read-password-file", "", "file holding --direct-read-user's password, which gates reading directly are given too (mode 600; or SHARDTABLET_DIRECT_READ_PASSWORD)")
	f.IntVar(&cfg.Query.DirectReads.MaxConnections, "direct-read-max-connections", cfg.Query.DirectReads.MaxConnections, "connections all gates together may hold to MariaDB for direct reads (MAX_USER_CONNECTIONS of --direct-read-user)")
	f.BoolVar(&cfg.Query.DirectReads.Transactions, "direct-transactions", false, "offer gates transactions straight on MariaDB too (needs --direct-read-user): the user may then INSERT, UPDATE and DELETE in the keyspace's database, MariaDB's read_only fences it, and gates write only while this tablet's primary lease is certain")
	f.StringVar(&cfg.Query.DirectReads.Address, "direct-read-address", "", "MariaDB's host:port as gates reach it for direct reads (default: --mysql-host:--mysql-port)")
	f.StringVar(&cfg.DebugTokenFile, "debug-token-file", "", "file holding a token /debug/status and /debug/pprof require (Authorization: Bearer; or SHARDTABLET_DEBUG_TOKEN); /metrics and /healthz stay open")
	f.BoolVar(&cfg.InsecureGRPC, "insecure-grpc", false, "allow a --hostname other than loopback without --grpc-client-ca: every interface then serves statements to anyone who reaches the ports")
	f.StringSliceVar(&cfg.TopoEndpoints, "topo", cfg.TopoEndpoints, "etcd endpoints of the topology")
	f.StringVar(&cfg.TopoRoot, "topo-root", cfg.TopoRoot, "key prefix of the topology in etcd")
	cfg.TopoAuth.AddFlags(f)
	f.IntVar(&cfg.Query.PoolSize, "pool-size", cfg.Query.PoolSize, "MySQL connections for autocommit statements")
	f.IntVar(&cfg.Query.TxPoolSize, "tx-pool-size", cfg.Query.TxPoolSize, "MySQL connections for transactions")
	f.DurationVar(&cfg.Query.QueryTimeout, "query-timeout", cfg.Query.QueryTimeout, "default statement timeout; a statement running longer is killed on MySQL")
	f.IntVar(&cfg.Query.MaxRows, "max-rows", cfg.Query.MaxRows, "a read returning more rows than this fails")
	f.DurationVar(&cfg.Query.TxIdleTimeout, "tx-idle-timeout", cfg.Query.TxIdleTimeout, "an idle transaction is rolled back after this")
	f.DurationVar(&cfg.Query.HealthInterval, "health-interval", cfg.Query.HealthInterval, "how often health is measured and streamed to gates")
	f.StringVar(&cfg.TLS.CertFile, "grpc-cert", "", "PEM certificate of the gRPC and query ports (TLS when set)")
	f.StringVar(&cfg.TLS.KeyFile, "grpc-key", "", "PEM key of --grpc-cert")
	f.StringVar(&cfg.TLS.ClientCAFile, "grpc-client-ca", "", "PEM CA that must sign the certificates of gates and tools connecting (mutual TLS); empty: no client certificate required")
	f.StringVar(&cfg.PeerTLS.CAFile, "tablet-ca", "", "PEM CA that signed the other tablets' certificates: resharding streams reach them with TLS")
	f.StringVar(&cfg.PeerTLS.CertFile, "tablet-cert", "", "PEM certificate this tablet presents to tablets that require one (mutual TLS)")
	f.StringVar(&cfg.PeerTLS.KeyFile, "tablet-key", "", "PEM key of --tablet-cert")
	f.StringVar(&cfg.PeerTLS.ServerName, "tablet-server-name", "", "name the other tablets' certificates carry (default: the host each tablet registered)")
	f.StringVar(&cfg.BackupStorage, "backup-storage", cfg.BackupStorage, "backup store URL: file:///dir, s3://bucket/prefix?region=..&endpoint=..&use_path_style=true, gs://bucket/prefix (empty: no backups)")
	f.StringVar(&cfg.BackupStateDir, "backup-state-dir", cfg.BackupStateDir, "directory for a restore that has not finished and scratch servers (default: MYSQLD_DATA_DIR/backup-state, or shardtablet-ALIAS in the temporary directory)")
	f.IntVar(&cfg.Backup.Workers, "backup-workers", cfg.Backup.Workers, "tables backed up or restored at once")
	f.IntVar(&cfg.Backup.ChunkBytes, "backup-chunk-bytes", cfg.Backup.ChunkBytes, "uncompressed size of a backup chunk")
	f.DurationVar(&cfg.Backup.ArchiveInterval, "binlog-archive-interval", cfg.Backup.ArchiveInterval, "how often closed binlog files are copied to the backup store (0: never)")
	f.DurationVar(&cfg.Backup.RotateInterval, "binlog-rotate-interval", cfg.Backup.RotateInterval, "rotate the binlog once its current file is this old and holds transactions, so it gets archived (0: never)")
	f.StringVar(&cfg.MysqldDataDir, "mysqld-data-dir", cfg.MysqldDataDir, "root of the tablet's own mariadbd (started if not running, initialized and restored from backup if it has no data)")
	f.StringVar((*string)(&cfg.MysqldDurability), "mysql-durability", "full", "what the tablet's own mariadbd (--mysqld-data-dir) flushes at commit: full (innodb_flush_log_at_trx_commit=1, sync_binlog=1) or relaxed (2 and 0: faster commits, but an OS crash or power loss may lose the last second of commits)")
	f.BoolVar(&cfg.StopMysqldOnExit, "stop-mysqld-on-exit", cfg.StopMysqldOnExit, "shut the tablet's own mariadbd (--mysqld-data-dir) down cleanly when the tablet exits, as a container needs (its server would be killed with it); by default the server keeps running for the next tablet")
	f.DurationVar(&cfg.MysqldStopTimeout, "mysqld-stop-timeout", cfg.MysqldStopTimeout, "with --stop-mysqld-on-exit, how long the server may take to shut down before it is killed (keep the tablet's whole stop within the container's grace period)")
	f.Uint32Var(&cfg.MysqldServerID, "mysqld-server-id", cfg.MysqldServerID, "server_id of the tablet's own mariadbd (default: the alias's number)")
	f.BoolVar(&cfg.RestoreFromBackup, "restore-from-backup", cfg.RestoreFromBackup, "restore the shard's latest backup into a newly initialized mariadbd (--mysqld-data-dir)")
	f.StringVar(&cfg.ReplicationUser, "replication-user", "", "MySQL user replicas log in to the primary with (default: --mysql-user)")
	f.StringVar(&cfg.ReplicationPassword, "replication-password", "", "password of --replication-user (default: --mysql-password)")
	f.DurationVar(&cfg.SemiSyncTimeout, "semi-sync-timeout", cfg.SemiSyncTimeout, "how long a primary's commit waits for a replica's acknowledgement before going on without (longer than --primary-lease-ttl)")
	f.DurationVar(&cfg.PrimaryLeaseTTL, "primary-lease-ttl", cfg.PrimaryLeaseTTL, "how long a primary that stops renewing its lease keeps its shard from failing over")
	f.StringVar(&logOpts.Level, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&logOpts.Format, "log-format", "console", "log format: console or json")

	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "shardtablet:", err)
		os.Exit(1)
	}
}
