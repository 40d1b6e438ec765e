// Package client talks to a Shardgate gate over its gRPC API (port 15991)
// instead of the MySQL protocol: typed values and field metadata equal to
// what the MySQL port returns, streamed results, explicit sessions, and
// target selection ("keyspace", "keyspace:shard", "keyspace@replica").
//
// Two ways in:
//
//   - database/sql: importing the package registers the driver
//     "shardgate", so that
//
//     db, err := sql.Open("shardgate", "shardgate://127.0.0.1:15991/commerce?target=@replica&timeout=5s")
//
//     works like any other database/sql driver (transactions, client-side
//     prepared statements, context cancellation, rows streamed from the
//     gate, not buffered whole). Values scan into the same Go types as
//     go-sql-driver/mysql's text protocol returns, and ColumnTypes report
//     what it reports. ParseDSN documents the DSN.
//
//   - The Go client: New makes a Client for a gate; its Sessions run
//     statements with Vitess's bind variables and return Vitess's
//     sqltypes results, as vtgateconn does.
//
// Sessions live in the client: the gate keeps nothing between calls, so
// every call sends the session and the answer returns it updated (see
// proto/gate.proto). A session is one line of statements, like a MySQL
// connection: it is not safe for concurrent use. A session abandoned in a
// transaction (its process died, or it was dropped without Close) keeps
// its shards' transactions open until the tablets' idle timeout rolls
// them back (--tx-idle-timeout, 30 s by default); Close rolls back at
// once.
package client
