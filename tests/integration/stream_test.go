package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shardgate/shardgate/localcluster"
)

// testOLAPStreams checks that an OLAP session's scatter read streams:
// with a gate whose memory bound is far smaller than the result, the read
// fails in an OLTP session (error 1038) and returns every row, once, in
// an OLAP one.
func testOLAPStreams(t *testing.T, c *localcluster.Cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	gate := openDB(t, c.GateDSN("ks"))
	rows := make([]string, 3000)
	for i := range rows {
		rows[i] = fmt.Sprintf("(%d, %d)", 50000+i, i)
	}
	if _, err := gate.ExecContext(ctx, "INSERT INTO acct (id, balance) VALUES "+strings.Join(rows, ", ")); err != nil {
		t.Fatal(err)
	}
	var want int
	if err := gate.QueryRowContext(ctx, "SELECT COUNT(*) FROM acct").Scan(&want); err != nil {
		t.Fatal(err)
	}

	// 30 kB of gate memory; the rows take about 100 kB.
	if err := c.RestartGate(ctx, "--max-result-bytes", "30000"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.RestartGate(context.Background()); err != nil {
			t.Errorf("restoring the gate: %v", err)
		}
	}()
	conn, err := openDB(t, c.GateDSN("ks")).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = conn.QueryContext(ctx, "SELECT id, balance FROM acct")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1038 {
		t.Fatalf("OLTP read of a result above the bound: got %v, want error 1038", err)
	}
	if _, err := conn.ExecContext(ctx, "SET workload = 'olap'"); err != nil {
		t.Fatal(err)
	}
	res, err := conn.QueryContext(ctx, "SELECT id, balance FROM acct")
	if err != nil {
		t.Fatalf("OLAP read: %v", err)
	}
	seen := map[int64]bool{}
	for res.Next() {
		var id, balance int64
		if err := res.Scan(&id, &balance); err != nil {
			t.Fatal(err)
		}
		if seen[id] {
			t.Fatalf("row %d streamed twice", id)
		}
		seen[id] = true
	}
	if err := res.Err(); err != nil {
		t.Fatalf("OLAP read: %v", err)
	}
	res.Close()
	if len(seen) != want {
		t.Fatalf("OLAP read streamed %d rows, want %d", len(seen), want)
	}
	var found int
	if err := conn.QueryRowContext(ctx, "SELECT FOUND_ROWS()").Scan(&found); err != nil || found != want {
		t.Fatalf("FOUND_ROWS() after the streamed read = %d (%v), want %d", found, err, want)
	}
}
