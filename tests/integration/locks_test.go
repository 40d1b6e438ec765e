package integration

import (
	"context"
	"database/sql"
	"testing"
	"time"
)

// TestNamedLocksAreSessionBound: GET_LOCK and its siblings behave as on
// one MariaDB across the gate's sessions, whichever pooled shard
// connection other statements take: a lock held by one session is refused
// to another, re-taken by its holder, and released by RELEASE_LOCK or when
// the holding session ends.
func TestNamedLocksAreSessionBound(t *testing.T) {
	c := startCluster(t)
	db := openDB(t, c.GateDSN("ks"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := func() *sql.Conn {
		cn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return cn
	}
	a, b := conn(), conn()
	defer b.Close()
	value := func(cn *sql.Conn, q string, args ...any) sql.NullInt64 {
		t.Helper()
		var v sql.NullInt64
		if err := cn.QueryRowContext(ctx, q, args...).Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return v
	}
	expect := func(who string, cn *sql.Conn, q string, want int64) {
		t.Helper()
		if got := value(cn, q); !got.Valid || got.Int64 != want {
			t.Errorf("%s: %s = %v, want %d", who, q, got, want)
		}
	}
	expect("a", a, "SELECT GET_LOCK('job', 0)", 1)
	expect("b", b, "SELECT GET_LOCK('job', 0)", 0)
	expect("b", b, "SELECT IS_FREE_LOCK('job')", 0)
	if v := value(b, "SELECT IS_USED_LOCK('job')"); !v.Valid {
		t.Errorf("b: IS_USED_LOCK('job') is NULL while a holds it")
	}
	// Other statements of a go through pooled connections meanwhile.
	for i := range 20 {
		if _, err := a.ExecContext(ctx, "SELECT id FROM acct WHERE id = ?", i); err != nil {
			t.Fatal(err)
		}
	}
	expect("a", a, "SELECT GET_LOCK('job', 0)", 1) // a second hold
	expect("a", a, "SELECT RELEASE_LOCK('job')", 1)
	expect("b", b, "SELECT GET_LOCK('job', 0)", 0)
	expect("a", a, "SELECT RELEASE_LOCK('job')", 1)
	if v := value(a, "SELECT RELEASE_LOCK('job')"); v.Valid && v.Int64 != 0 {
		t.Errorf("a: RELEASE_LOCK of a lock it no longer holds = %v, want 0 or NULL", v)
	}
	if _, err := b.ExecContext(ctx, "SET @name = 'job'"); err != nil {
		t.Fatal(err)
	}
	expect("b", b, "SELECT GET_LOCK(@name, 0)", 1)
	expect("a", a, "SELECT IS_FREE_LOCK('job')", 0)
	expect("b", b, "SELECT RELEASE_ALL_LOCKS()", 1)
	expect("a", a, "SELECT GET_LOCK('job', 0)", 1)
	// Parameters of a server-side prepared statement.
	if v := value(b, "SELECT GET_LOCK(?, ?)", "job", 0); !v.Valid || v.Int64 != 0 {
		t.Errorf("b: prepared GET_LOCK(?, ?) of a held lock = %v, want 0", v)
	}

	// A session that ends releases its locks: b waits for a's.
	done := make(chan sql.NullInt64, 1)
	go func() {
		var v sql.NullInt64
		_ = b.QueryRowContext(ctx, "SELECT GET_LOCK('job', 60)").Scan(&v)
		done <- v
	}()
	time.Sleep(500 * time.Millisecond)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// database/sql keeps a closed Conn's connection in its pool: close the
	// pool's idle connections so that the session ends.
	db.SetMaxIdleConns(0)
	select {
	case v := <-done:
		if !v.Valid || v.Int64 != 1 {
			t.Errorf("b: GET_LOCK after a's session ended = %v, want 1", v)
		}
	case <-ctx.Done():
		t.Fatal("b still waits for the lock of a session that ended")
	}

	// Lock functions beside tables are refused by name.
	if _, err := b.ExecContext(ctx, "SELECT GET_LOCK('x', 0), id FROM acct"); err == nil {
		t.Error("GET_LOCK in a statement that reads a table was accepted")
	} else {
		mysqlErr(t, err, 1235, "42000")
	}
}
