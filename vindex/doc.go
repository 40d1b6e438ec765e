// Package vindex maps column values to keyspace IDs and keyspace IDs to
// shards.
//
// A vindex ("vitess index") is a function from one or more column values to
// a keyspace ID, an opaque byte string. A sharded keyspace is split into
// shards, each owning one half-open range [Start, End) of keyspace IDs; the
// row whose primary vindex maps it to keyspace ID k lives on the shard whose
// range contains k. The package holds the pieces of that idea and nothing
// else: it imports no other Shardgate package.
//
// # Invariants
//
// Compatibility. Every built-in vindex produces exactly the keyspace IDs that
// the Vitess (v0.24.4) vindex of the same type name produces for the same
// sqltypes.Value, byte for byte, including its treatment of NULL, negative
// numbers, strings given to numeric vindexes and the Unicode folding of the
// unicode_loose_* types. Data sharded by Vitess is therefore found on the same
// shard here. The vectors in testdata/ were checked against Vitess itself;
// a change that alters any of them breaks every existing deployment and
// must not be made.
//
// Determinism. A vindex that does not need a Cursor (NeedsCursor false) is a
// pure function of its inputs: the same value maps to the same keyspace ID in
// every process, forever. All built-ins are of that kind and are safe for
// concurrent use by many goroutines.
//
// Key space. Keyspace IDs are compared as unsigned fractions in [0, 1): the
// bytes after the "point", so trailing zero bytes do not matter (0x40 and
// 0x4000 are the same position) and the empty ID is the very start. A
// KeyRange with an empty Start begins at the start of the key space and one
// with an empty End runs to its end. Shard names are the hex spelling of
// their ranges ("-80", "40-80", "80-"), with "0" and "-" both naming the
// whole space; the shards of a keyspace tile it exactly once (CheckTiling).
//
// Routing outcome. Mapping a value yields a Destination: one keyspace ID
// (unique vindexes), several (non-unique vindexes), a key range (a multicol
// vindex given only a prefix of its columns) or none (the value cannot be
// stored under this vindex, so no shard holds it). Whether an unmappable
// value yields DestinationNone or an error follows Vitess for each type and is
// stated on the type.
//
// Extensibility. Vindex types are registered by name (Register) like
// database/sql drivers, and vschemas name the type; optional behaviour
// (Reversible, Hasher) is discovered by type assertion.
package vindex
