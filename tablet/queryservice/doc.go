// Package queryservice is the tablet's gRPC QueryService: the only way a
// gate reaches a shard's MySQL server.
//
// The gate sends final SQL (literals substituted), so the tablet never
// parses a statement: it checks the target, takes a pooled connection, runs
// the statement under a deadline and returns MySQL's own result and errors.
//
// Invariants:
//   - A statement that outlives its deadline, or whose caller goes away, is
//     killed on the MySQL server (KILL QUERY), and the connection it ran on
//     is discarded, because a late kill could otherwise hit the connection's
//     next statement.
//   - A transaction lives on one reserved connection, identified by an id
//     that is unique across tablet restarts. A transaction left idle longer
//     than the idle timeout is rolled back and its id answers with an error
//     saying so.
//   - A transaction begun with a dtid is an XA branch (twopc.go). Once
//     prepared, only CommitPrepared or RollbackPrepared end it: not the idle
//     timeout, and not the tablet shutting down, which closes its connection
//     and leaves the branch prepared in MySQL for the next tablet process.
//     Both calls are idempotent: a branch already ended is reported as not
//     prepared.
//   - Results are bounded by max rows: a read returning more fails cleanly
//     instead of exhausting the tablet's or the gate's memory.
package queryservice
