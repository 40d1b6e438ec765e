package querystats

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

func TestQuantilesAreWithinABucket(t *testing.T) {
	var h histogram
	// 1..1000 ms, one each: p50 is 500 ms, p95 950 ms, p99 990 ms.
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 0.5}, {0.95, 0.95}, {0.99, 0.99}} {
		got := quantile(h.buckets(), c.q)
		if math.Abs(got-c.want)/c.want > 0.07 {
			t.Errorf("p%v = %.4f s, want %.3f s within 7%%", c.q*100, got, c.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile of nothing = %v, want 0", got)
	}
}

func TestBucketsCoverEveryLatency(t *testing.T) {
	prev := -1
	for _, d := range []time.Duration{0, time.Microsecond, 3 * time.Microsecond, 7 * time.Microsecond, 9 * time.Microsecond,
		time.Millisecond, time.Second, time.Hour, 1000 * time.Hour} {
		b := bucketOf(d)
		if b < prev || b >= numBuckets {
			t.Fatalf("bucketOf(%v) = %d after %d (of %d)", d, b, prev, numBuckets)
		}
		prev = b
		if d >= time.Microsecond && d < time.Hour {
			if mid := bucketMiddle(b); math.Abs(mid-d.Seconds())/d.Seconds() > 0.07 {
				t.Errorf("bucket of %v has its middle at %v s", d, mid)
			}
		}
	}
}

func TestRecordCountsEverything(t *testing.T) {
	s := NewStore(10)
	info := func() Info { return Info{Plan: "select_equal", Tables: []string{"t"}} }
	st := s.Lookup("ks", "select * from t where id = :vtg1", info)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				e := Execution{Duration: time.Millisecond, RowsReturned: 1, RowsRead: 2, ShardCalls: 1}
				if i%100 == 0 {
					e.ErrorCode = 1146
				}
				st.Record(time.Now(), e)
			}
		}()
	}
	wg.Wait()
	if again := s.Lookup("ks", "select * from t where id = :vtg1", info); again != st {
		t.Fatal("a second lookup made a new entry")
	}
	snap := s.Snapshot()
	if len(snap) != 1 {
		t.Fatalf("%d statements, want 1", len(snap))
	}
	got := snap[0]
	if got.Calls != 8000 || got.Errors != 80 || got.ErrorCodes[1146] != 80 || got.RowsReturned != 8000 || got.RowsRead != 16000 || got.ShardCalls != 8000 {
		t.Errorf("counters: %+v", got)
	}
	if got.RowsReadPerReturned() != 2 || got.ShardsPerCall() != 1 || got.ErrorCodeList() != "1146:80" {
		t.Errorf("derived: %v rows read per returned, %v shards per call, codes %q", got.RowsReadPerReturned(), got.ShardsPerCall(), got.ErrorCodeList())
	}
	if math.Abs(got.TotalSeconds-8) > 1e-9 || math.Abs(got.Quantile(0.5)-0.001) > 0.0001 {
		t.Errorf("total %v s, p50 %v s", got.TotalSeconds, got.Quantile(0.5))
	}
	if got.Digest != Digest("select * from t where id = :vtg1") || len(got.Digest) != 32 {
		t.Errorf("digest %q", got.Digest)
	}
}

func TestEvictionKeepsTheLoad(t *testing.T) {
	s := NewStore(50)
	heavy := s.Lookup("ks", "heavy", func() Info { return Info{} })
	heavy.Record(time.Now(), Execution{Duration: time.Hour})
	for i := 0; i < 1000; i++ {
		st := s.Lookup("ks", fmt.Sprintf("one-off %d", i), func() Info { return Info{} })
		st.Record(time.Now(), Execution{Duration: time.Millisecond})
	}
	if s.Len() != 50 {
		t.Errorf("%d statements kept, want the bound, 50", s.Len())
	}
	if heavy.Evicted() {
		t.Error("the statement with the most time was evicted")
	}
	if s.Evictions() != 951 {
		t.Errorf("%d evictions, want 951", s.Evictions())
	}
	s.Reset()
	if s.Len() != 0 || !heavy.Evicted() {
		t.Error("Reset kept statements")
	}
}

func TestMergeAddsGates(t *testing.T) {
	mk := func(calls uint64, d time.Duration, seen time.Time) []Statement {
		s := NewStore(10)
		st := s.Lookup("ks", "q", func() Info { return Info{Plan: "p"} })
		for range calls {
			st.Record(seen, Execution{Duration: d, ErrorCode: 1062})
		}
		return s.Snapshot()
	}
	t0 := time.Now()
	merged := Merge(mk(10, time.Millisecond, t0), mk(30, 100*time.Millisecond, t0.Add(time.Second)))
	if len(merged) != 1 {
		t.Fatalf("%d statements after merge, want 1", len(merged))
	}
	m := merged[0]
	if m.Calls != 40 || m.ErrorCodes[1062] != 40 || math.Abs(m.MaxSeconds-0.1) > 1e-9 {
		t.Errorf("merged: %+v", m)
	}
	if p50 := m.Quantile(0.5); math.Abs(p50-0.1)/0.1 > 0.07 {
		t.Errorf("merged p50 = %v s, want about 0.1 s (30 of 40 calls took 100 ms)", p50)
	}
	if !m.LastSeen.Equal(t0.Add(time.Second).UTC()) {
		t.Errorf("last seen %v", m.LastSeen)
	}
}

func TestSortByColumn(t *testing.T) {
	stmts := []Statement{{Digest: "a", Calls: 1, TotalSeconds: 3}, {Digest: "b", Calls: 5, TotalSeconds: 1}, {Digest: "c", Calls: 3, TotalSeconds: 2}}
	col, ok := ColumnByName("CALLS")
	if !ok {
		t.Fatal("no calls column")
	}
	SortBy(stmts, col, true)
	if stmts[0].Digest != "b" || stmts[2].Digest != "a" {
		t.Errorf("by calls descending: %v %v %v", stmts[0].Digest, stmts[1].Digest, stmts[2].Digest)
	}
	total, _ := ColumnByName("total_ms")
	SortBy(stmts, total, false)
	if stmts[0].Digest != "b" || total.Format(&stmts[0]) != "1000.000" {
		t.Errorf("by total ascending: first %v (%s)", stmts[0].Digest, total.Format(&stmts[0]))
	}
}
