package backup

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// rowHasher hashes rows for table checksums. A table's checksum is the
// wrapping sum of its rows' hashes, so it does not depend on the order rows
// are read in, and chunks can be summed separately. A row's hash covers
// each value's length and bytes, and NULL differently from any value.
type rowHasher struct {
	d   *xxhash.Digest
	buf [binary.MaxVarintLen64]byte
}

func newRowHasher() *rowHasher { return &rowHasher{d: xxhash.New()} }

// hash returns the hash of one row; a nil value is NULL.
func (h *rowHasher) hash(values [][]byte) uint64 {
	h.d.Reset()
	for _, v := range values {
		if v == nil {
			_, _ = h.d.Write([]byte{0xff})
			continue
		}
		n := binary.PutUvarint(h.buf[:], uint64(len(v)))
		_, _ = h.d.Write(h.buf[:n])
		_, _ = h.d.Write(v)
	}
	return h.d.Sum64()
}
