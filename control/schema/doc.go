// Package schema applies DDL to every shard of a keyspace.
//
// Schema changes go to the primary tablet of every shard through the
// tablet's query service, never to MySQL directly, so they take the same
// path (pools, timeouts, errors naming the tablet) as queries do. A failure
// on one shard does not stop the others; every failure is reported with its
// shard (SchemaError holds one ShardError per failed shard).
package schema
