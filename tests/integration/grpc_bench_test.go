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
// cluster (four shards), the same statement, one connection per driver,
// one statement at a time, each through a statement prepared once (the
// driver's on the client, go-sql-driver's on the gate). mysql-text is
// go-sql-driver sending the statement as text (interpolateParams), which
// is what the gRPC driver's statements are at the gate too. Each
// iteration runs the statement once through each, in turn, so that the
// load of a shared machine weighs on all alike; the benchmark reports
// each one's median and 99th percentile latency (ns/op is the three
// together).
//
//	make build && SHARDGATE_TEST_BIN_DIR=$PWD/bin go test -run '^$' -bench PointSelect -benchtime 10000x -count 3 ./tests/integration/
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
	type target struct {
		name string
		stmt *sql.Stmt
		took []time.Duration
	}
	var targets []*target
	for _, t := range []struct {
		name string
		db   *sql.DB
	}{
		{"grpc-driver", openDriver(b, grpcDSN(c, "ks", ""))},
		{"mysql-prepared", openDB(b, c.GateDSN("ks"))},
		{"mysql-text", openDB(b, c.GateDSN("ks")+"&interpolateParams=true")},
	} {
		t.db.SetMaxOpenConns(1)
		stmt, err := t.db.PrepareContext(context.Background(), "SELECT balance FROM acct WHERE id = ?")
		if err != nil {
			b.Fatal(err)
		}
		defer stmt.Close()
		targets = append(targets, &target{name: t.name, stmt: stmt})
	}
	var balance int
	query := func(t *target, i int) {
		if err := t.stmt.QueryRow(100000 + i%rows).Scan(&balance); err != nil {
			b.Fatalf("%s: %v", t.name, err)
		}
	}
	// Warm up: connections, plan caches, the tablets' pools.
	for i := range 300 {
		for _, t := range targets {
			query(t, i)
		}
	}
	for i := 0; b.Loop(); i++ {
		for _, t := range targets {
			start := time.Now()
			query(t, i)
			t.took = append(t.took, time.Since(start))
		}
	}
	for _, t := range targets {
		slices.Sort(t.took)
		b.ReportMetric(float64(t.took[len(t.took)/2].Microseconds()), t.name+"-p50-us")
		b.ReportMetric(float64(t.took[len(t.took)*99/100].Microseconds()), t.name+"-p99-us")
	}
}
