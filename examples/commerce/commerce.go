// Package commerce is the example keyspace `shardctl local up` starts when
// given no keyspace: customers and their orders sharded by customer_id, and
// a product reference table. The SQL and vschema files beside this one are
// compiled into the binary, so shardctl works from any directory.
package commerce

import _ "embed"

// Keyspace is the name the example is meant to be created under.
const Keyspace = "commerce"

// Shards is the number of shards of the default local cluster.
const Shards = 4

// Schema is schema.sql: the tables' DDL, applied to every shard.
//
//go:embed schema.sql
var Schema []byte

// VSchema is vschema.json: how the tables are sharded.
//
//go:embed vschema.json
var VSchema []byte
