package integration

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestKill: KILL QUERY on a gate connection id stops that session's
// statement on every shard, and KILL CONNECTION ends the session, as the
// mariadb CLI's Ctrl-C and operators expect.
func TestKill(t *testing.T) {
	c := startCluster(t)
	db := openDB(t, c.GateDSN("ks"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	victim, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	var id int64
	if err := victim.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}

	// A scatter statement that would run for a minute on every shard.
	if _, err := db.ExecContext(ctx, "INSERT INTO acct (id, balance) VALUES (1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1)"); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := victim.ExecContext(ctx, "SELECT SLEEP(60) FROM acct WHERE balance > -1")
		errc <- err
	}()
	time.Sleep(time.Second)
	start := time.Now()
	if _, err := db.ExecContext(ctx, fmt.Sprintf("KILL QUERY %d", id)); err != nil {
		t.Fatalf("KILL QUERY %d: %v", id, err)
	}
	select {
	case err := <-errc:
		mysqlErr(t, err, 1317, "70100")
		t.Logf("the statement ended %v after KILL QUERY", time.Since(start).Round(time.Millisecond))
	case <-ctx.Done():
		t.Fatal("KILL QUERY did not stop the statement")
	}
	// The tablets kill the shards' parts as the gate cancels them (as
	// MariaDB's own KILL QUERY, the statement ends a moment after).
	for _, tab := range c.Tablets() {
		shard := openDB(t, tab.MySQLDSN())
		deadline := time.Now().Add(10 * time.Second)
		for {
			var n int
			if err := shard.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE '%SLEEP(60)%' AND info NOT LIKE '%processlist%'").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("shard %s/%s still runs the killed statement 10 s after KILL QUERY", tab.Keyspace, tab.Shard)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// The session goes on after KILL QUERY.
	var one int
	if err := victim.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("the session after KILL QUERY: %v", err)
	}

	// SET wait_timeout closes an idle connection, as MariaDB does.
	idle, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := idle.ExecContext(ctx, "SET SESSION wait_timeout = 1"); err != nil {
		t.Fatal(err)
	}
	var timeout int
	if err := idle.QueryRowContext(ctx, "SELECT @@wait_timeout").Scan(&timeout); err != nil || timeout != 1 {
		t.Fatalf("@@wait_timeout = %d, %v; want 1", timeout, err)
	}
	time.Sleep(2500 * time.Millisecond)
	if err := idle.QueryRowContext(ctx, "SELECT 1").Scan(&one); err == nil {
		t.Error("a connection idle past its wait_timeout still answers")
	}

	if _, err := db.ExecContext(ctx, "KILL 4294967295"); err == nil {
		t.Error("KILL of an unknown id succeeded")
	} else {
		mysqlErr(t, err, 1094, "HY000")
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id)); err != nil {
		t.Fatalf("KILL CONNECTION %d: %v", id, err)
	}
	err = victim.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	if err == nil || !(strings.Contains(err.Error(), "invalid connection") || strings.Contains(err.Error(), "bad connection") || strings.Contains(err.Error(), "EOF") || err == sql.ErrConnDone) {
		t.Errorf("a statement on a killed connection: %v, want the connection gone", err)
	}
}
