package querystats

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Latencies are counted in buckets on a logarithmic scale of
// microseconds: each power of two is split into subBuckets buckets, so a
// bucket is at most 1/subBuckets of its value wide and a quantile read
// from its middle is within 6% of the true one. Buckets are indexed
// octave*subBuckets+sub; an octave's buckets are allocated the first time
// a latency falls in it, so a statement that always takes about the same
// time holds a few hundred bytes, not the whole range.
//
// The layout is fixed (not a sketch that adapts to its data) so that the
// histograms of the same statement on different gates add up bucket by
// bucket (Merge), and so that recording is lock-free: one atomic add.
const (
	subBucketBits = 3
	subBuckets    = 1 << subBucketBits
	// octaves covers 1 us to 2^36 us (19 hours); longer is counted in
	// the last bucket.
	octaves    = 37
	numBuckets = octaves * subBuckets
)

// histogram counts latencies. Its zero value is empty and ready; it is
// safe for concurrent use.
type histogram struct {
	octave [octaves]atomic.Pointer[[subBuckets]atomic.Uint64]
}

// bucketOf returns the bucket a latency falls in.
func bucketOf(d time.Duration) int {
	us := uint64(max(d.Microseconds(), 1))
	o := bits.Len64(us) - 1
	if o >= octaves {
		return numBuckets - 1
	}
	var sub uint64
	if o >= subBucketBits {
		sub = (us >> (o - subBucketBits)) & (subBuckets - 1)
	} else {
		sub = (us << (subBucketBits - o)) & (subBuckets - 1)
	}
	return o*subBuckets + int(sub)
}

// bucketMiddle is the latency in the middle of bucket b, in seconds.
func bucketMiddle(b int) float64 {
	o, sub := b/subBuckets, b%subBuckets
	low := math.Ldexp(1+float64(sub)/subBuckets, o)
	high := math.Ldexp(1+float64(sub+1)/subBuckets, o)
	if o < subBucketBits {
		// Below 8 us a microsecond is the resolution.
		low, high = math.Floor(low), math.Max(math.Floor(low), math.Floor(high))
	}
	return (low + high) / 2 / 1e6
}

func (h *histogram) record(d time.Duration) {
	b := bucketOf(d)
	o := &h.octave[b/subBuckets]
	counts := o.Load()
	if counts == nil {
		fresh := new([subBuckets]atomic.Uint64)
		if !o.CompareAndSwap(nil, fresh) {
			fresh = o.Load()
		}
		counts = fresh
	}
	counts[b%subBuckets].Add(1)
}

// buckets returns the non-empty buckets as index and count pairs, in
// order of latency.
func (h *histogram) buckets() []Bucket {
	var out []Bucket
	for o := range h.octave {
		counts := h.octave[o].Load()
		if counts == nil {
			continue
		}
		for sub := range counts {
			if n := counts[sub].Load(); n > 0 {
				out = append(out, Bucket{Index: o*subBuckets + sub, Count: n})
			}
		}
	}
	return out
}

// Bucket is one bucket of a latency histogram: its index in the fixed
// layout (histogram.go) and how many statements fell in it.
type Bucket struct {
	Index int    `json:"i"`
	Count uint64 `json:"n"`
}

// quantile returns the latency in seconds below which a fraction q of
// the counted statements fall (the middle of the bucket holding it); 0
// for no statement. buckets must be in order of index.
func quantile(buckets []Bucket, q float64) float64 {
	var total uint64
	for _, b := range buckets {
		total += b.Count
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = max(rank, 1)
	var seen uint64
	for _, b := range buckets {
		seen += b.Count
		if seen >= rank {
			return bucketMiddle(b.Index)
		}
	}
	return bucketMiddle(buckets[len(buckets)-1].Index)
}

// mergeBuckets adds two ordered bucket lists.
func mergeBuckets(a, b []Bucket) []Bucket {
	out := make([]Bucket, 0, max(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i].Index < b[j].Index:
			out = append(out, a[i])
			i++
		case i == len(a) || b[j].Index < a[i].Index:
			out = append(out, b[j])
			j++
		default:
			out = append(out, Bucket{Index: a[i].Index, Count: a[i].Count + b[j].Count})
			i++
			j++
		}
	}
	return out
}
