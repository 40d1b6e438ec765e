package vindex

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"vitess.io/vitess/go/mysql/collations/vindex/collate"
	"vitess.io/vitess/go/sqltypes"
)

// looseHasher hashes text so that strings equal under a case- and
// accent-insensitive comparison hash the same: it feeds the digest the
// primary collation weights of the text (which ignore case and accents)
// rather than its bytes, after dropping trailing spaces (which MySQL's PAD
// SPACE collations ignore too).
//
// The weights come from Vitess's own frozen copy of the Unicode collation
// tables (vitess.io/vitess/go/mysql/collations/vindex/collate). Vitess froze
// that copy because any change of table would move rows to other shards;
// using the very same tables is what makes the unicode_loose_* vindexes
// byte-compatible with Vitess's, and reimplementing them would only add risk.
type looseHasher struct {
	// pool holds *collate.Hasher values, which carry scratch state and so
	// cannot be shared between goroutines; pooling avoids building one
	// per call.
	pool sync.Pool
}

func newLooseHasher(newDigest func() hash.Hash) *looseHasher {
	return &looseHasher{pool: sync.Pool{New: func() any {
		return collate.New(newDigest())
	}}}
}

// hash returns the digest of v's collation weights. v's bytes are taken as
// MySQL would return them (NULL is the empty string); they must be valid
// UTF-8.
func (l *looseHasher) hash(v sqltypes.Value) (KeyspaceID, error) {
	raw, err := v.ToBytes()
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(raw) {
		return nil, fmt.Errorf("cannot fold %q: it is not valid UTF-8", raw)
	}
	raw = bytes.TrimRight(raw, " ")
	h := l.pool.Get().(*collate.Hasher)
	defer l.pool.Put(h)
	// Hasher.Hash returns a fresh slice (the digest's Sum(nil)), so the
	// result does not alias the pooled hasher.
	return h.Hash(raw), nil
}

// xxhashLittleEndian adapts xxhash's digest to hash.Hash with the 64-bit sum
// appended least significant byte first. Vitess's unicode_loose_xxhash
// emits its sum in this order (its adapter is misleadingly named "big
// endian"), and compatibility requires the same bytes.
type xxhashLittleEndian struct {
	*xxhash.Digest
}

// Sum appends the little-endian 64-bit sum to b.
func (d xxhashLittleEndian) Sum(b []byte) []byte {
	return binary.LittleEndian.AppendUint64(b, d.Sum64())
}
