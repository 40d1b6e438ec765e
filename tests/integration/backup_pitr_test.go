package integration

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/proto/backuppb"
)

// sleepPastSecond waits until the wall clock is in a later second than t
// (binlogs date events to the second) and a little more.
func sleepPastSecond(t time.Time) {
	next := t.Truncate(time.Second).Add(time.Second + 200*time.Millisecond)
	time.Sleep(time.Until(next))
}

func gtidPos(t *testing.T, db *sql.DB) string {
	t.Helper()
	var pos string
	if err := db.QueryRow("SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
		t.Fatal(err)
	}
	return pos
}

func execEach(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// execUnlogged runs stmts on one connection without writing them to the
// binlog: damage a restore must undo that no replay would (a lost file, a
// bad disk).
func execUnlogged(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range append([]string{"SET SESSION sql_log_bin = 0"}, stmts...) {
		if _, err := conn.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if _, err := conn.ExecContext(context.Background(), "SET SESSION sql_log_bin = 1"); err != nil {
		t.Fatal(err)
	}
}

// xaPrepare runs stmt in XA transaction xid on a connection of its own and
// prepares it; closing the connection leaves it prepared on the server. It
// returns once the server has ended that connection: until then the
// branch belongs to it, and XA COMMIT or XA ROLLBACK from another one
// fails with "Unknown XID".
func xaPrepare(t *testing.T, dsn, xid, stmt string) {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	var id int64
	if err := db.QueryRow("SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	execEach(t, db, "XA START '"+xid+"'", stmt, "XA END '"+xid+"'", "XA PREPARE '"+xid+"'")
	db.Close()
	other := openDB(t, dsn)
	defer other.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var n int
		if err := other.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the connection that prepared %s does not end", xid)
		}
	}
}

// TestBackupPointInTime restores to moments and positions between a backup
// and later writes, XA transactions among them: one prepared and rolled
// back, one prepared before the target and committed after it.
func TestBackupPointInTime(t *testing.T) {
	cfg, db := startBackupMySQLD(t)
	execEach(t, db,
		"CREATE TABLE t1 (id INT PRIMARY KEY, v VARCHAR(20))",
		"CREATE TABLE t2 (id INT PRIMARY KEY, n INT)",
		"INSERT INTO t1 SELECT seq, CONCAT('a', seq) FROM seq_1_to_100",
		"INSERT INTO t2 SELECT seq, seq FROM seq_1_to_50")
	// An XA transaction prepared when the backup is taken and committed
	// after it: its rows are in no backup, its XA PREPARE before the
	// backup's position.
	xaPrepare(t, cfg.DSN("ks"), "straddle", "INSERT INTO t2 VALUES (5000, 5000)")
	e := newEngine(t, cfg, "file://"+t.TempDir(), nil)
	ctx := context.Background()
	m, err := e.Backup(ctx, "logical", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.PreparedXa) != 1 || m.PreparedXa[0].Gtid == "" {
		t.Fatalf("prepared XA in the manifest: %v", m.PreparedXa)
	}

	// After the backup: plain writes, then the first target.
	execEach(t, db, "XA COMMIT 'straddle'", "INSERT INTO t1 SELECT seq, CONCAT('b', seq) FROM seq_101_to_200", "UPDATE t2 SET n = n + 1000 WHERE id <= 10")
	at1, pos1 := time.Now(), gtidPos(t, db)
	want1 := checksums(t, db, "ks", "t1", "t2")
	sleepPastSecond(at1)

	// An XA branch prepared and rolled back, one prepared and left
	// prepared across the second target, and plain writes.
	xaPrepare(t, cfg.DSN("ks"), "rb", "INSERT INTO t1 VALUES (1000, 'rolled back')")
	execEach(t, db, "XA ROLLBACK 'rb'")
	xaPrepare(t, cfg.DSN("ks"), "late", "INSERT INTO t2 VALUES (2000, 2000)")
	execEach(t, db, "DELETE FROM t1 WHERE id BETWEEN 150 AND 160")
	at2 := time.Now()
	want2 := checksums(t, db, "ks", "t1", "t2")
	sleepPastSecond(at2)
	execEach(t, db, "XA COMMIT 'late'", "INSERT INTO t1 VALUES (3000, 'after')")
	wantLatest := checksums(t, db, "ks", "t1", "t2")

	if _, _, err := e.ArchiveBinlogs(ctx, true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  *backuppb.RestoreRequest
		want map[string]int64
	}{
		{"time 1", &backuppb.RestoreRequest{ToUnixNanos: at1.UnixNano(), IntoDatabase: "at1"}, want1},
		{"gtid 1", &backuppb.RestoreRequest{ToGtid: pos1, IntoDatabase: "gtid1"}, want1},
		{"time 2", &backuppb.RestoreRequest{ToUnixNanos: at2.UnixNano(), IntoDatabase: "at2"}, want2},
		{"one table at time 2", &backuppb.RestoreRequest{ToUnixNanos: at2.UnixNano(), Tables: []string{"t2"}, IntoDatabase: "t2only"}, map[string]int64{"t2": want2["t2"]}},
	} {
		if err := e.Restore(ctx, tc.req, nil); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		tables := []string{}
		for k := range tc.want {
			tables = append(tables, k)
		}
		sameChecksums(t, tc.name, checksums(t, db, tc.req.IntoDatabase, tables...), tc.want)
	}
	// The shard itself, to the latest moment, after damage the binlog did
	// not see.
	execUnlogged(t, db, "DROP TABLE t1", "DELETE FROM t2")
	if err := e.Restore(ctx, &backuppb.RestoreRequest{ToLatest: true}, nil); err != nil {
		t.Fatal(err)
	}
	sameChecksums(t, "latest in place", checksums(t, db, "ks", "t1", "t2"), wantLatest)
	list, err := e.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Binlogs) == 0 {
		t.Fatal("no binlog was archived")
	}
	var prepared int
	rows, err := db.Query("XA RECOVER")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		prepared++
	}
	rows.Close()
	if prepared != 0 {
		t.Fatalf("%d XA transactions are left prepared on the server after the restores", prepared)
	}
	if len(list.Restores) != 1 {
		t.Fatalf("restore markers: %v, want the one of the in-place restore", list.Restores)
	}
	// Point-in-time restores from before the in-place restore would replay
	// binlogs across it: refused.
	execEach(t, db, "INSERT INTO t1 VALUES (4000, 'after the restore')")
	if _, _, err := e.ArchiveBinlogs(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := e.Restore(ctx, &backuppb.RestoreRequest{ToLatest: true, IntoDatabase: "x"}, nil); err == nil || !strings.Contains(err.Error(), "restored in place") {
		t.Fatalf("a replay across an in-place restore: %v", err)
	}
}
