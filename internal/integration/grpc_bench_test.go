package integration

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkPointSelect compares the latency of a point select through the
// gRPC driver with go-sql-driver/mysql on the gate's MySQL port: the same
// cluster (four shards), the same statement, one connection, one
// statement at a time, each through a statement prepared once (the
// driver's on the client, go-sql-driver's on the gate). mysql-text is
// go-sql-driver sending the statement as text (interpolateParams), which
// is what the gRPC driver's statements become at the gate too. Besides
// the mean (ns/op) it reports the median and 99th percentile latency.
//
//	make build && SHARDGATE_TEST_BIN_DIR=$PWD/bin go test -run '^$' -bench PointSelect -benchtime 20000x -count 5 ./internal/integration/
func BenchmarkPointSelect(b *testing.B) {
	c := startCluster(b)
	gate := openDB(b, c.GateDSN("ks"))
	const rows = 1000
	values := make([]string, rows)
	for i := range values {
		values[i] = fmt.Sprintf("(%d, %d)", 100000+i, i)
	}
	if _, err := gate.Exec("INSERT INTO acct (id, balance) VALUES " + strings.Join(values, ", ")); err != nil {
		b.Fatal(err)
	}
	for _, target := range []struct {
		name string
		db   *sql.DB
	}{
		{"grpc-driver", openDriver(b, grpcDSN(c, "ks", ""))},
		{"mysql-prepared", openDB(b, c.GateDSN("ks"))},
		{"mysql-text", openDB(b, c.GateDSN("ks")+"&interpolateParams=true")},
	} {
		b.Run(target.name, func(b *testing.B) {
			target.db.SetMaxOpenConns(1)
			stmt, err := target.db.PrepareContext(context.Background(), "SELECT balance FROM acct WHERE id = ?")
			if err != nil {
				b.Fatal(err)
			}
			defer stmt.Close()
			var balance int
			// Warm up: connection, plan cache, tablet pools.
			for i := range 200 {
				if err := stmt.QueryRow(100000 + i%rows).Scan(&balance); err != nil {
					b.Fatal(err)
				}
			}
			var took []time.Duration
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				if err := stmt.QueryRow(100000 + i%rows).Scan(&balance); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-us")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-us")
		})
	}
}
