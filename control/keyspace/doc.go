// Package keyspace creates keyspaces with their shards, applies vschemas
// and explains how the gate would route a statement.
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
package keyspace
