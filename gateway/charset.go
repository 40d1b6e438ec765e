package gateway

import (
	"strings"

	querypb "vitess.io/vitess/go/vt/proto/query"
)

// Result metadata in the client's character set.
//
// Tablets talk to MariaDB in utf8mb4, so the column definitions they pass
// on carry utf8mb4's collation (45) and lengths of up to 4 bytes a
// character. MariaDB describes text columns to a client in the collation
// the client asked for at connect (character_set_results): utf8mb3_general_ci
// (33) and three bytes a character to the mariadb command-line client on
// Debian, utf8mb4_unicode_ci (224) to node's mysql2. Drivers size buffers
// and pick decoders from it, so the gate describes columns as MariaDB
// would. (The values themselves stay utf8mb4: a character outside a
// 3-byte client's set reaches it as is, where MariaDB would send '?'.)

// collationMaxBytes is the longest character, in bytes, of the character
// set of the collations the gate rewrites metadata for.
func collationMaxBytes(id uint32) uint32 {
	switch {
	case id == 5 || id == 8 || id == 15 || id == 31 || (id >= 47 && id <= 49) || id == 94:
		return 1 // latin1
	case id == 33 || id == 83 || (id >= 192 && id <= 215) || id == 223:
		return 3 // utf8mb3
	case id == 45 || id == 46 || (id >= 224 && id <= 247):
		return 4 // utf8mb4
	}
	return 0
}

// shardCollation is the collation tablets' connections to MariaDB use.
const shardCollation = 45

// binaryCollation marks binary and numeric columns, which keep theirs.
const binaryCollation = 63

// fieldsForClient returns fields as MariaDB would describe them to a client
// connected with collation: text columns in that collation, their lengths
// in its character size. fields is not changed (it may be shared); the
// copy shares what did not change.
func fieldsForClient(fields []*querypb.Field, collation uint32) []*querypb.Field {
	clientMax := collationMaxBytes(collation)
	if collation == shardCollation || clientMax == 0 {
		return fields
	}
	var out []*querypb.Field
	for i, f := range fields {
		if f.Charset == binaryCollation || f.Charset == 0 || f.Charset == collation {
			continue
		}
		shardMax := collationMaxBytes(f.Charset)
		if shardMax == 0 {
			continue
		}
		if out == nil {
			out = append([]*querypb.Field(nil), fields...)
		}
		c := f.CloneVT()
		c.Charset = collation
		if c.ColumnLength != 0xffffffff { // LONGTEXT and JSON stay at the maximum
			c.ColumnLength = c.ColumnLength / shardMax * clientMax
		}
		out[i] = c
	}
	if out == nil {
		return fields
	}
	return out
}

// resultsCollation is the collation MariaDB describes results in after
// SET NAMES or SET character_set_results to a character set: its default
// collation (0: results as stored, for NULL and binary).
func resultsCollation(charset string) uint32 {
	switch strings.ToLower(charset) {
	case "utf8mb4", "default":
		return shardCollation
	case "utf8", "utf8mb3":
		return 33
	}
	return 0
}
