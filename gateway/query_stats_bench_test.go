package gateway

import (
	"context"
	"testing"
)

// BenchmarkPointSelectStatistics is the gate's own work for a point
// select (parse, plan cache, route, a fake tablet's answer) with query
// statistics on and off: the difference is what the statistics cost per
// statement, without the noise of a whole cluster.
func BenchmarkPointSelectStatistics(b *testing.B) {
	for _, c := range []struct {
		name string
		max  int
	}{{"on", 5000}, {"off", 0}} {
		b.Run(c.name, func(b *testing.B) {
			e := testExecutor(b, map[string]unaryClient{"ks/-80": rowsTablet(1), "ks/80-": rowsTablet(1)})
			e.stats = newQueryStats(c.max, e.metrics, nil, nil)
			s := NewSession(1, "app")
			s.Keyspace = "ks"
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := e.Execute(ctx, s, "select id from acct where id = 5", nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
