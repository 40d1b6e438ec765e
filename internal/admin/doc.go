// Package admin holds the operations `shardctl` performs on a cluster:
// creating keyspaces and their shards, applying vschemas and schemas, and
// listing tablets with their health. cmd/shardctl only parses flags and
// calls these; internal/localcluster calls them to set up a local cluster.
//
// Invariants the operations keep:
//
//   - Nothing invalid is stored. A keyspace's shards are checked to tile the
//     key space and a vschema is parsed and validated (vindex types, primary
//     vindexes, references) before anything is written, so a rejected
//     command leaves the topology as it was. The error names the culprit: the
//     shards that overlap or leave a gap, the table or vindex at fault.
//   - A keyspace and its serving graph are written together: the serving
//     graph of the cell is rebuilt from the shard records every time the
//     shards change, and a CreateKeyspace that fails half-way removes what
//     it had written.
//   - Schema changes go to the primary tablet of every shard through the
//     tablet's query service, never to MySQL directly, so they take the same
//     path (pools, timeouts, errors naming the tablet) as queries do. A
//     failure on one shard does not stop the others; every failure is
//     reported with its shard.
package admin
