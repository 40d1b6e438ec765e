// Package vreplication is the receiving side of resharding: a tablet runs
// a stream for each shard it receives rows from in a workflow. A stream
// first copies the sender's rows of its key range, table by table, a
// chunk at a time, then applies the sender's binlog from there on.
//
// Invariants:
//   - A stream's state (the sender's position it has applied, each
//     table's copy progress) is a row of _shardgate.resharding, written
//     in the same transaction as the rows it describes: a restart
//     continues exactly where the last commit left.
//   - Each copy chunk is read from a snapshot at position S. Before the
//     chunk is added, the rows already copied are brought from the
//     stream's position up to S with the binlog (only rows at or before
//     each table's last copied key: later rows come with their chunk, as
//     they are at S). The chunk and position S then commit together.
//   - Once every table is copied, every change is applied, a transaction
//     of the sender at a time.
//   - A DDL statement on the sender stops the stream with an error saying
//     so, at the position before it: schema changes are not carried over,
//     so the workflow has to be cancelled and created again after them.
package vreplication
