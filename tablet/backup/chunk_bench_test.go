package backup

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// sysbenchRows makes rows shaped like sysbench's (id, k, c CHAR(120),
// pad CHAR(60)): digits in dash-separated groups.
func sysbenchRows(n int) [][][]byte {
	r := rand.New(rand.NewSource(1))
	group := func(k int) []byte {
		b := make([]byte, 0, k*12)
		for i := 0; i < k; i++ {
			if i > 0 {
				b = append(b, '-')
			}
			b = fmt.Appendf(b, "%011d", r.Int63n(1e11))
		}
		return b
	}
	rows := make([][][]byte, n)
	for i := range rows {
		rows[i] = [][]byte{fmt.Appendf(nil, "%d", i+1), fmt.Appendf(nil, "%d", r.Intn(1e6)), group(10), group(5)}
	}
	return rows
}

// BenchmarkChunkEncode measures what a backup does per row besides
// reading it: hash, escape, and compress the chunk (at each zstd level).
func BenchmarkChunkEncode(b *testing.B) {
	rows := sysbenchRows(50000)
	var raw []byte
	for _, r := range rows {
		raw = appendRow(raw, r)
	}
	b.Run("hash+escape", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		h := newRowHasher()
		buf := make([]byte, 0, len(raw))
		for i := 0; i < b.N; i++ {
			buf = buf[:0]
			for _, r := range rows {
				h.hash(r)
				buf = appendRow(buf, r)
			}
		}
	})
	for _, level := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault} {
		enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(1))
		b.Run("zstd-"+level.String(), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			var out []byte
			for i := 0; i < b.N; i++ {
				out = enc.EncodeAll(raw, out[:0])
			}
			b.ReportMetric(float64(len(out))/float64(len(raw)), "ratio")
		})
	}
}
