// Package gateway is the gate: it speaks the MySQL protocol and a gRPC API
// to clients, keeps a session per connection (or per gRPC caller, which
// holds it), plans statements with sqlrouter and runs them on tablets.
//
// Parts, one file each: topology.go follows the vschemas and serving graph
// in etcd (through the local snapshot of --topo-snapshot-file when set,
// which a gate started while etcd is down serves from; topology_source.go
// says which); tablets.go keeps a gRPC connection and a health stream per
// tablet; executor.go runs statements for a session (session.go);
// mysql_handler.go adapts the executor to the MySQL protocol server
// (gateway/mysqlserver), and grpc_handler.go to the Gate gRPC API, whose
// callers send their session with every call (session_proto.go turns it
// into the same Session);
// auth.go checks logins on both; gate.go wires it all into a running
// process. The Go client and database/sql driver of the gRPC API are in
// gateway/client, which imports nothing of this package.
// Transactions that span shards commit as transaction_mode says
// (transaction_mode.go): shard by shard (cursor.go), or atomically with
// two-phase commit (twopc.go), whose records left behind by a gate that
// died are finished by the others and by its next process
// (twopc_recovery.go). What MySQL keeps per connection the gate keeps per
// session: the diagnostics area (warnings.go), user variables and the
// variables a pooled connection cannot hold (variables.go), savepoints
// (savepoints.go), and, on connections the tablets reserve for the
// session, named locks (locks.go) and LOCK TABLES (table_locks.go); KILL
// finds sessions by connection id (kill.go). LOAD DATA LOCAL INFILE reads
// the client's file through the front end and inserts it in batches
// (load_data.go, sqlrouter/loaddata).
//
// Invariants:
//   - The query path reads topology only from immutable snapshots swapped in
//     atomically, so a topology change never blocks or tears a query; when
//     etcd is down the gate keeps serving from the last snapshot.
//   - A session's transaction touches each shard through exactly one
//     tablet, recorded when the shard joins the transaction. A gRPC
//     session names it by alias; when that tablet is gone, the shard's
//     part fails rather than moving to another tablet.
//   - Both doors share one Executor: a statement is parsed, planned and
//     run the same way, and its result has the same fields and values,
//     whichever door it came in by.
//   - In transaction_mode 'twopc' every shard's part of a transaction is an
//     XA branch from its first statement, and a transaction on several
//     shards commits only through a decision record in the topology: no
//     shard commits unless the record says COMMIT (topo/twopc).
//   - Every error a client sees is a MySQL error with its code and SQLSTATE
//     (internal/sqlerr); nothing a client sends can panic the gate.
//   - Nothing of one session stays on a pooled shard connection: session
//     settings travel with each statement (SET STATEMENT ... FOR), user
//     variables as bind variables, and connection-bound state (locks) on
//     reserved connections, which are closed, never pooled, when released.
package gateway
