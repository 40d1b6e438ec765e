package integration

import (
	"context"
	"testing"
	"time"
)

// TestLockTables: LOCK TABLES holds on every shard of the table's
// keyspace for the session that took it, as on one MariaDB: its holder
// reads and writes the locked table (and only it), other sessions wait
// until UNLOCK TABLES or the holder's end.
func TestLockTables(t *testing.T) {
	c := startCluster(t)
	db := openDB(t, c.GateDSN("ks"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	_, err = b.ExecContext(ctx, "SET SESSION lock_wait_timeout = 1")
	must(err, "b: SET lock_wait_timeout")

	_, err = a.ExecContext(ctx, "LOCK TABLES acct WRITE")
	must(err, "a: LOCK TABLES acct WRITE")
	_, err = a.ExecContext(ctx, "INSERT INTO acct (id, balance) VALUES (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6)")
	must(err, "a: INSERT under its WRITE lock")
	var n int
	must(a.QueryRowContext(ctx, "SELECT COUNT(*) FROM acct").Scan(&n), "a: SELECT under its WRITE lock")
	if n != 6 {
		t.Errorf("a sees %d rows, want 6", n)
	}
	_, err = a.ExecContext(ctx, "SELECT COUNT(*) FROM types")
	mysqlErr(t, err, 1100, "HY000") // not locked
	err = b.QueryRowContext(ctx, "SELECT COUNT(*) FROM acct").Scan(&n)
	mysqlErr(t, err, 1205, "HY000") // waits for a's lock

	_, err = a.ExecContext(ctx, "UNLOCK TABLES")
	must(err, "a: UNLOCK TABLES")
	must(b.QueryRowContext(ctx, "SELECT COUNT(*) FROM acct").Scan(&n), "b: SELECT after UNLOCK TABLES")
	if n != 6 {
		t.Errorf("b sees %d rows, want 6", n)
	}

	_, err = a.ExecContext(ctx, "LOCK TABLES acct READ")
	must(err, "a: LOCK TABLES acct READ")
	_, err = a.ExecContext(ctx, "UPDATE acct SET balance = 0")
	mysqlErr(t, err, 1099, "HY000") // locked for reading only
	must(b.QueryRowContext(ctx, "SELECT COUNT(*) FROM acct").Scan(&n), "b: SELECT beside a's READ lock")
	_, err = b.ExecContext(ctx, "UPDATE acct SET balance = 0 WHERE id = 1")
	mysqlErr(t, err, 1205, "HY000")

	// The holder's end releases its locks.
	must(a.Close(), "a: close")
	db.SetMaxIdleConns(0)
	_, err = b.ExecContext(ctx, "UPDATE acct SET balance = 0 WHERE id = 1")
	must(err, "b: UPDATE after a's session ended")

	// UNLOCK TABLES with nothing locked is fine (mariadb-dump
	// --single-transaction sends it).
	_, err = b.ExecContext(ctx, "UNLOCK TABLES")
	must(err, "b: UNLOCK TABLES with nothing locked")
}
