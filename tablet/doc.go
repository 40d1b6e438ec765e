// Package tablet runs a shardtablet: the process that fronts one MySQL
// server. It registers the tablet in the topology, serves the query service
// over gRPC and exposes metrics and status over HTTP.
//
// Subpackages hold the parts: queryservice (statements, transactions,
// health; its MySQL connections come from internal/connpool and run
// statements through internal/mysqlexec, which the gate's direct reads
// share), mysqld (running a local mariadbd),
// backup (backups, binlog archiving, restores) and backupstore (where
// backups are kept), vstreamer and vreplication (resharding streams).
//
// With --mysqld-data-dir the tablet runs its own mariadbd: it starts the
// server when it is down, and when its data directory is gone initializes a
// new one and restores the shard from its backups before it serves.
package tablet
