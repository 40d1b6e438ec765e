// Package mysqld starts, stops and finds local MariaDB servers (mariadbd) for
// local clusters (`shardctl local up`) and integration tests.
//
// # What a server owns
//
// Everything one server writes lives under its Config.DataDir:
//
//	DataDir/data/        the MariaDB datadir (made by Init)
//	DataDir/binlog/      binary logs, mysql-bin.NNNNNN and mysql-bin.index
//	DataDir/relaylog/    relay logs, when the server replicates
//	DataDir/tmp/         tmpdir
//	DataDir/mysql.sock   unix socket
//	DataDir/mysqld.pid   pid file, written by mariadbd, removed on clean shutdown
//	DataDir/error.log    error log; the process's stdout and stderr go there too
//
// The server is started with --no-defaults and explicit paths for all of the
// above, so no option file under /etc/mysql leaks in and nothing under
// /var/lib/mysql or /run/mysqld is read or written. It listens on
// 127.0.0.1 only.
//
// # Invariants
//
//   - DataDir/data is either absent or a complete, initialized datadir: Init
//     builds it beside the final name and renames it into place.
//   - A data dir has at most one server. Start refuses to start a second one
//     (ErrAlreadyRunning); Running and StopDataDir find the live one through
//     the pid file, and accept a pid only when that process is a
//     mariadbd/mysqld whose --datadir is this DataDir/data, so a stale pid
//     file whose pid has been reused is never mistaken for a server.
//   - A started server is detached: it runs in its own session (setsid) and
//     outlives the process that started it. Stop it with Process.Stop from
//     the starting process or with StopDataDir from any process.
//   - root has an empty password and can log in over the socket
//     (root@localhost) and over TCP from 127.0.0.1 (root@127.0.0.1). These
//     servers are for local clusters and tests only.
//
// Every server writes a row-based binary log with GTIDs (gtid_strict_mode),
// which resharding and backups require. Servers are durable by default
// (innodb_flush_log_at_trx_commit=1, sync_binlog=1); Config.Durability =
// DurabilityRelaxed trades the last second of commits on an OS crash for
// faster commits, for tests and throwaway clusters only.
//
// The package targets MariaDB 10.11 on Linux (Unix for the signals, /proc for
// telling live servers from stale pid files). Oracle MySQL is not supported:
// its server lacks MariaDB options such as gtid_strict_mode and it has no
// mariadb-install-db.
package mysqld
