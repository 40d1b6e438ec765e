// Package topo keeps the cluster's metadata: keyspaces, shards, tablets,
// vschemas and the serving graph, plus the gates that run (gates/<id>,
// under leases), the decision records of two-phase commits
// (transactions/<dtid>), resharding workflows, and the keyspace locks
// that keep two operators from changing one keyspace's workflow or
// serving graph at once (locks/keyspaces/<keyspace>, under leases; see
// LockKeyspace).
//
// Two layers, and a wrapper:
//
//   - Store is a tiny versioned key-value interface (get, list, create,
//     compare-and-set update, delete, watch a prefix). EtcdStore implements it
//     on etcd for real clusters; MemoryStore implements it in memory for unit
//     tests. Nothing above Store knows which one it has.
//   - SnapshotStore wraps a Store for the watches a gate routes by: it
//     keeps what they deliver in a local file (snapshot_file.go) and serves
//     the file while the store does not answer, so that a gate can start
//     while etcd is down.
//   - Server turns keys and bytes into typed records (protobuf messages from
//     proto/topopb; vschemas stay the JSON the user wrote) under a root
//     prefix, default "/shardgate".
//
// Invariants:
//
//   - Every write of a record that a reader may race with is a
//     compare-and-set on the version read, so concurrent shardctl invocations
//     never silently overwrite each other (ErrBadVersion tells the loser).
//   - A two-phase commit's record is decided once: DecideTransaction moves it
//     from PREPARE by compare-and-set, and whoever loses the race reads and
//     follows the winner's decision.
//   - A keyspace lock has one holder: it is created only where no key is,
//     in one etcd transaction with its lease, and goes when its holder
//     releases it or stops renewing the lease.
//   - Watches deliver whole snapshots of a prefix, never deltas: a consumer
//     that misses events (etcd compaction, a reconnect) is simply handed the
//     current state again, so gates converge to the topology no matter what
//     they missed. When etcd is unreachable a watch delivers nothing and the
//     consumer keeps what it last saw.
package topo
