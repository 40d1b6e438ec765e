// Package control is what the control plane's packages share: opening the
// topology, the options every operation takes (the cell, TLS to tablets),
// and reaching and describing tablets. The operations themselves live in
// the packages below it, one per concern, and `shardctl` only parses flags
// and calls them:
//
//   - control/keyspace: keyspaces, their shards and serving graph,
//     vschemas, and `shardctl explain`;
//   - control/schema: DDL applied to every shard of a keyspace;
//   - control/backup: backups, restores, verification and binlog archiving,
//     run by a shard's tablet and followed here;
//   - control/reshard: resharding workflows, from copy to cutover;
//   - control/transactions: two-phase commits left for an operator;
//   - control/insights: the gates' statement statistics, merged;
//   - control/ui: the read-only admin web UI (`shardctl serve`).
//
// The control plane sits above the data plane: it may import the topology
// (topo), the planner's vschema model, the protocol packages and the tablet
// client, never the gate's or a tablet's server code, and nothing below it
// imports it (tests/layout checks this).
package control
