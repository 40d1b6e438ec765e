package integration

import (
	"context"
	"testing"

	"github.com/shardgate/shardgate/proto/backuppb"
)

// TestBackupAutoRestoreKeepsPreparedXA restores a new server to the
// latest archived moment while an XA branch is prepared there (its
// coordinator has not decided yet): the branch is prepared on the new
// server too, and the coordinator's XA COMMIT, coming later, applies.
func TestBackupAutoRestoreKeepsPreparedXA(t *testing.T) {
	cfg, db := startBackupMySQLD(t)
	execEach(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v INT)", "INSERT INTO t SELECT seq, seq FROM seq_1_to_100")
	store := "file://" + t.TempDir()
	e := newEngine(t, cfg, store, nil)
	ctx := context.Background()
	if _, err := e.Backup(ctx, "logical", nil); err != nil {
		t.Fatal(err)
	}
	execEach(t, db, "INSERT INTO t VALUES (101, 101)")
	xaPrepare(t, cfg.DSN("ks"), "undecided", "INSERT INTO t VALUES (5000, 5000)")
	if _, _, err := e.ArchiveBinlogs(ctx, true); err != nil {
		t.Fatal(err)
	}
	execEach(t, db, "XA COMMIT 'undecided'")
	want := checksums(t, db, "ks", "t")

	fresh := startMySQLD(t, freePort(t), 2)
	freshDB := openDB(t, fresh.DSN("ks"))
	e2 := newEngine(t, fresh, store, nil)
	if ok, err := e2.AutoRestore(ctx); err != nil || !ok {
		t.Fatalf("auto-restore: %v, %v", ok, err)
	}
	var prepared []string
	rows, err := freshDB.Query("XA RECOVER")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var format, gl, bl int
		var data string
		if err := rows.Scan(&format, &gl, &bl, &data); err != nil {
			t.Fatal(err)
		}
		prepared = append(prepared, data)
	}
	rows.Close()
	if len(prepared) != 1 || prepared[0] != "undecided" {
		t.Fatalf("XA branches prepared on the restored server: %q, want the undecided one", prepared)
	}
	execEach(t, freshDB, "XA COMMIT 'undecided'")
	sameChecksums(t, "the new server after the coordinator's commit", checksums(t, freshDB, "ks", "t"), want)
}

// TestBackupReplayKeepsToTheShardDatabase replays binlogs that also hold
// changes to _shardgate (where resharding streams keep their positions,
// written in the same transactions as the rows they copy) and to another
// database: a scratch server has neither, and a live shard's stream
// positions must not go back.
func TestBackupReplayKeepsToTheShardDatabase(t *testing.T) {
	cfg, db := startBackupMySQLD(t)
	execEach(t, db,
		"CREATE TABLE t (id INT PRIMARY KEY, v INT)",
		"INSERT INTO t SELECT seq, seq FROM seq_1_to_100",
		"CREATE DATABASE IF NOT EXISTS _shardgate",
		"CREATE TABLE _shardgate.resharding (workflow VARBINARY(128) PRIMARY KEY, position VARBINARY(100))",
		"INSERT INTO _shardgate.resharding VALUES ('wf', 'p1')",
		"CREATE DATABASE other", "CREATE TABLE other.o (a INT)")
	e := newEngine(t, cfg, "file://"+t.TempDir(), nil)
	ctx := context.Background()
	if _, err := e.Backup(ctx, "logical", nil); err != nil {
		t.Fatal(err)
	}
	// A stream applies rows and saves its position in one transaction.
	execEach(t, db, "BEGIN", "INSERT INTO t VALUES (101, 101)", "UPDATE _shardgate.resharding SET position = 'p2'", "COMMIT",
		"INSERT INTO other.o VALUES (1)")
	mid := gtidPos(t, db)
	wantMid := checksums(t, db, "ks", "t")
	execEach(t, db, "BEGIN", "INSERT INTO t VALUES (102, 102)", "UPDATE _shardgate.resharding SET position = 'p3'", "COMMIT")
	wantLatest := checksums(t, db, "ks", "t")
	if _, _, err := e.ArchiveBinlogs(ctx, true); err != nil {
		t.Fatal(err)
	}

	// Through a scratch server, which has no _shardgate.
	if err := e.Restore(ctx, &backuppb.RestoreRequest{ToLatest: true, IntoDatabase: "side"}, nil); err != nil {
		t.Fatal(err)
	}
	sameChecksums(t, "side database at the latest moment", checksums(t, db, "side", "t"), wantLatest)

	// In place, back to the moment between: the stream's position stays.
	if err := e.Restore(ctx, &backuppb.RestoreRequest{ToGtid: mid}, nil); err != nil {
		t.Fatal(err)
	}
	sameChecksums(t, "in place at the moment between", checksums(t, db, "ks", "t"), wantMid)
	var pos string
	if err := db.QueryRow("SELECT position FROM _shardgate.resharding WHERE workflow = 'wf'").Scan(&pos); err != nil || pos != "p3" {
		t.Fatalf("the stream's position after the restore: %q, %v; want p3, as it was", pos, err)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM other.o").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows of another database after the restore: %d, %v", n, err)
	}
}

// TestBackupReplaysLargeRows replays a row event larger than the default
// max_allowed_packet once base64-encoded (a 13 MB value: 17 MB as
// mariadb-binlog prints it), in a scratch server and in place.
func TestBackupReplaysLargeRows(t *testing.T) {
	cfg, db := startBackupMySQLD(t)
	execEach(t, db, "CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB)", "INSERT INTO big VALUES (1, 'small')")
	var before int64
	if err := db.QueryRow("SELECT @@GLOBAL.max_allowed_packet").Scan(&before); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, cfg, "file://"+t.TempDir(), nil)
	ctx := context.Background()
	if _, err := e.Backup(ctx, "logical", nil); err != nil {
		t.Fatal(err)
	}
	execEach(t, db, "INSERT INTO big VALUES (2, REPEAT('x', 13 * 1024 * 1024))")
	want := checksums(t, db, "ks", "big")
	if _, _, err := e.ArchiveBinlogs(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := e.Restore(ctx, &backuppb.RestoreRequest{ToLatest: true, IntoDatabase: "side"}, nil); err != nil {
		t.Fatalf("through a scratch server: %v", err)
	}
	sameChecksums(t, "side database", checksums(t, db, "side", "big"), want)
	execUnlogged(t, db, "DELETE FROM big")
	if err := e.Restore(ctx, &backuppb.RestoreRequest{ToLatest: true}, nil); err != nil {
		t.Fatalf("in place: %v", err)
	}
	sameChecksums(t, "in place", checksums(t, db, "ks", "big"), want)
	var after int64
	if err := db.QueryRow("SELECT @@GLOBAL.max_allowed_packet").Scan(&after); err != nil || after != before {
		t.Fatalf("max_allowed_packet after the replay: %d (%v), was %d", after, err, before)
	}
}
