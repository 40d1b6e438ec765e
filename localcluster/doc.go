// Package localcluster runs a whole Shardgate cluster on one machine:
// embedded etcd, one mariadbd and one shardtablet per shard, and one
// shardgate, all on 127.0.0.1. `shardctl local up` is built on it, and so
// are integration tests, which use Cluster's addresses to reach the gate,
// the topology and each shard's MariaDB directly.
//
// # What a cluster owns
//
// Everything lives under Config.DataDir:
//
//	DataDir/cluster.json               the state file (State): ports, processes, status
//	DataDir/cluster.lock               flock held by the supervisor while it runs
//	DataDir/etcd/                      etcd's data
//	DataDir/<keyspace>/<shard>/mysql/  a shard's MariaDB (see tablet/mysqld)
//	DataDir/logs/                      etcd.log, tablet-<alias>.log, gate.log, supervisor.log
//
// # Invariants
//
//   - The process that calls Up is the supervisor. It runs etcd inside
//     itself and holds DataDir/cluster.lock until Close has stopped
//     everything; the kernel drops the lock if it dies. A held lock therefore
//     means a live supervisor, and a second Up on the same data dir is
//     refused.
//   - Every other process runs in its own session (setsid), so a Ctrl-C in
//     the supervisor's terminal reaches only the supervisor, which then stops
//     the others in order: gate, tablets, mysqlds, etcd.
//   - The state file names every process that runs, with its pid and kernel
//     start time, and is replaced atomically whenever that changes, so that
//     Down and Status work from any process. Down signals a recorded pid only
//     if its start time still matches (a reused pid is left alone), and stops
//     mariadbds through mysqld.StopDataDir, which checks --datadir. After a
//     supervisor crash, Down stops what it left; Up refuses to start over
//     such leftovers and says to run Down.
//   - Restarting on the same data dir keeps data and topology: keyspaces and
//     shards that exist are kept (and must match the configuration), a
//     vschema is applied only to a keyspace that has none, and a keyspace's
//     Schema runs once in the life of the data dir (State.SchemaApplied).
//
// # Ports
//
// The defaults are Vitess's local ports (gate MySQL 15306, gRPC 15991, HTTP
// 15001, etcd 2379 and 2380, tablet gRPC 16100+i, tablet HTTP 15100+i,
// MySQL 17100+i for the i-th shard over all keyspaces). Config.BasePort
// shifts them all by BasePort-15000; FreeBasePort finds a base whose ports
// are all free, so tests never collide with a running demo or each other.
package localcluster
