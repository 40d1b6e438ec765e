// Command shardgate is the gate: MySQL clients connect to it and it routes
// their statements to the shards that own the rows.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/shardgate/shardgate/gateway"
	"github.com/shardgate/shardgate/internal/daemon"
	"github.com/shardgate/shardgate/internal/logging"
)

func main() {
	cfg := gateway.Defaults()
	var logOpts logging.Options
	cmd := &cobra.Command{
		Use:           "shardgate",
		Short:         "Serve MySQL clients, routing statements to the shards that own the rows",
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(*cobra.Command, []string) error {
			return daemon.Run("shardgate", logOpts, func(ctx context.Context, log *zap.Logger) error {
				return gateway.Run(ctx, cfg, log)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.BindAddress, "bind-address", cfg.BindAddress, "address the MySQL, gRPC and HTTP ports listen on; loopback by default, so that nothing is reachable from other hosts until you choose: give 0.0.0.0 (or \"\" for every interface) with a --users-file of passwords, and TLS (--mysql-cert, --grpc-cert) on networks you do not trust")
	f.StringVar(&cfg.DebugTokenFile, "debug-token-file", "", "file holding a token /debug/status and /debug/pprof require, and /api/query-stats (Authorization: Bearer; or SHARDGATE_DEBUG_TOKEN); /metrics and /healthz stay open")
	f.IntVar(&cfg.MySQLPort, "mysql-port", cfg.MySQLPort, "MySQL protocol port")
	f.IntVar(&cfg.GRPCPort, "grpc-port", cfg.GRPCPort, "gRPC port")
	f.IntVar(&cfg.HTTPPort, "http-port", cfg.HTTPPort, "HTTP port for /metrics and /debug/status")
	f.StringSliceVar(&cfg.TopoEndpoints, "topo", cfg.TopoEndpoints, "etcd endpoints of the topology")
	f.StringVar(&cfg.TopoRoot, "topo-root", cfg.TopoRoot, "key prefix of the topology in etcd")
	cfg.TopoAuth.AddFlags(f)
	f.StringVar(&cfg.Cell, "cell", cfg.Cell, "cell whose serving graph the gate follows")
	f.StringVar(&cfg.TopoSnapshotFile, "topo-snapshot-file", cfg.TopoSnapshotFile, "file where the gate keeps the topology it routes by (rewritten, mode 0600, whenever it changes); a gate started while etcd does not answer serves from it until etcd does (empty: no snapshot; such a gate fails statements until etcd answers)")
	f.StringVar(&cfg.UsersFile, "users-file", cfg.UsersFile, `JSON users file ({"users": [{"user": ..., "password": ..., "from": ..., "grants": [{"keyspace": ..., "tables": ..., "rights": ["read", "write", "ddl", "admin"]}], "max_connections": N}]}), reloaded on SIGHUP and when it changes (a bad file is refused, the old users stay); default: root without password from loopback only`)
	f.StringVar(&cfg.GRPCTLS.CertFile, "grpc-cert", "", "PEM certificate of the gRPC port (TLS when set)")
	f.StringVar(&cfg.GRPCTLS.KeyFile, "grpc-key", "", "PEM key of --grpc-cert")
	f.StringVar(&cfg.GRPCTLS.ClientCAFile, "grpc-client-ca", "", "PEM CA that must sign gRPC clients' certificates (mutual TLS); empty: no client certificate required")
	f.StringVar(&cfg.MySQLTLS.CertFile, "mysql-cert", "", "PEM certificate of the MySQL port (TLS offered to clients when set)")
	f.StringVar(&cfg.MySQLTLS.KeyFile, "mysql-key", "", "PEM key of --mysql-cert")
	f.StringVar(&cfg.MySQLTLS.ClientCAFile, "mysql-client-ca", "", "PEM CA that must sign MySQL clients' certificates (mutual TLS); empty: no client certificate required")
	f.BoolVar(&cfg.MySQLRequireTLS, "mysql-require-tls", false, "refuse MySQL clients that do not use TLS (MySQL's require_secure_transport)")
	f.IntVar(&cfg.MySQLMaxPacket, "mysql-max-packet", cfg.MySQLMaxPacket, "largest packet (statement) a MySQL client may send, as MariaDB's max_allowed_packet")
	f.StringVar(&cfg.TabletTLS.CAFile, "tablet-ca", "", "PEM CA that signed the tablets' certificates: connect to tablets with TLS")
	f.StringVar(&cfg.TabletTLS.CertFile, "tablet-cert", "", "PEM certificate the gate presents to tablets that require one (mutual TLS)")
	f.StringVar(&cfg.TabletTLS.KeyFile, "tablet-key", "", "PEM key of --tablet-cert")
	f.StringVar(&cfg.TabletTLS.ServerName, "tablet-server-name", "", "name the tablets' certificates carry (default: the host each tablet registered)")
	f.StringVar(&cfg.ServerVersion, "mysql-server-version", cfg.ServerVersion, "server version advertised to clients")
	f.Int64Var(&cfg.MaxResultBytes, "max-result-bytes", cfg.MaxResultBytes, "gate memory for one statement's rows from the shards; a statement needing more fails (0: no limit)")
	f.IntVar(&cfg.PlanCacheEntries, "plan-cache-entries", cfg.PlanCacheEntries, "plans of normalized statements kept (0: no cache)")
	f.Int64Var(&cfg.PlanCacheBytes, "plan-cache-bytes", cfg.PlanCacheBytes, "estimated bytes of the plans kept")
	f.IntVar(&cfg.MaxConnections, "max-connections", cfg.MaxConnections, "MySQL connections open at once, logged in or not; past it clients get error 1040 (0: no bound); per user: max_connections in the users file")
	f.IntVar(&cfg.QueryStatsMaxStatements, "query-stats-max-statements", cfg.QueryStatsMaxStatements, "normalized statements whose statistics are kept (SHOW QUERY STATS, /api/query-stats); past it the least costly are dropped; 0: no statistics")
	f.DurationVar(&cfg.SlowLog.Threshold, "slow-query-threshold", cfg.SlowLog.Threshold, "log statements that take at least this long (0: none)")
	f.IntVar(&cfg.SlowLog.MaxPerSecond, "slow-query-log-rate", cfg.SlowLog.MaxPerSecond, "at most this many slow query lines per second; the rest are counted (0: no bound)")
	f.BoolVar(&cfg.SlowLog.LogValues, "slow-query-log-values", cfg.SlowLog.LogValues, "log slow statements with their values, as sent (by default values are replaced by placeholders)")
	f.DurationVar(&cfg.SchemaRefresh, "schema-refresh", cfg.SchemaRefresh, "how often the gate reads the tables' columns from the shards again (0: only when a statement needs an unknown table)")
	f.DurationVar(&cfg.QueryTimeout, "query-timeout", cfg.QueryTimeout, "upper bound on a statement at the gate (tablets kill statements after their own timeout)")
	f.DurationVar(&cfg.TabletHealthTimeout, "tablet-health-timeout", cfg.TabletHealthTimeout, "a tablet whose health stream is silent this long (it sends every --health-interval, 1s) is declared unhealthy: statements needing it fail at once naming it, those waiting on it are cancelled, until it answers again")
	f.DurationVar(&cfg.MaxReplicaLag, "max-replica-lag", cfg.MaxReplicaLag, "statements for @replica and @rdonly targets avoid tablets whose replication lag is larger (0: no bound)")
	f.IntVar(&cfg.Buffer.MaxHeld, "buffer-size", cfg.Buffer.MaxHeld, "statements the gate holds at most while a resharding switches a keyspace's writes; more fail at once with error 1290")
	f.StringVar(&cfg.DirectReads.PasswordFile, "direct-read-password-file", "", "file holding the password of the user tablets offer for direct reads (their --direct-read-password-file; mode 600; or SHARDGATE_DIRECT_READ_PASSWORD): with it, plain autocommit reads go from the gate straight to the shard's MariaDB, without the tablet's hop")
	f.IntVar(&cfg.DirectReads.PoolSize, "direct-read-pool-size", gateway.DefaultDirectReadPoolSize, "connections the gate opens to each tablet's MariaDB for direct reads; reads beyond them go through the tablet")
	f.DurationVar(&cfg.Buffer.MaxWait, "buffer-max-wait", cfg.Buffer.MaxWait, "longest a statement is held while a resharding switches its keyspace's writes")
	f.StringVar(&cfg.GateName, "gate-name", cfg.GateName, "name of this gate, stable across restarts and unique among running gates (default host:mysql-port); a gate recovers at start the two-phase commits of earlier processes of its name")
	f.DurationVar(&cfg.TwoPCRecoveryInterval, "twopc-recovery-interval", cfg.TwoPCRecoveryInterval, "how often the gate finishes two-phase commits whose gate is gone")
	f.StringVar(&cfg.TwoPCCrashPoint, "twopc-crash-point", "", "crash tests only: kill the gate at this point of every two-phase commit (after-prepare, after-decision)")
	_ = f.MarkHidden("twopc-crash-point")
	f.StringVar(&logOpts.Level, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&logOpts.Format, "log-format", "console", "log format: console or json")
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "shardgate:", err)
		os.Exit(1)
	}
}
