package integration

import (
	"context"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/tablet/backup"
	"github.com/shardgate/shardgate/tablet/mysqld"
)

// TestPhysicalBackup takes a backup with mariadb-backup, verifies it on a
// scratch server, and restores the shard in place from it (the server is
// stopped, its data directory replaced, and archived binlogs replayed):
// to the latest moment, what was not archived yet included, then to the
// backup. The server's GTIDs go on past the archive after each.
func TestPhysicalBackup(t *testing.T) {
	cfg, db := startBackupMySQLD(t)
	t.Cleanup(func() {
		// The restore starts a server of its own on the data dir.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = mysqld.StopDataDir(ctx, cfg.DataDir)
	})
	execEach(t, db,
		"CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(100))",
		"INSERT INTO t SELECT seq, REPEAT('v', seq % 100) FROM seq_1_to_20000")
	own := cfg
	e := newEngine(t, cfg, "file://"+t.TempDir(), func(c *backup.Config) {
		c.Mysqld = &own
		c.ChunkBytes = 1 << 20
	})
	ctx := context.Background()
	m, err := e.Backup(ctx, "physical", nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Engine != "physical" || m.GtidPosition == "" || len(m.Chunks) == 0 {
		t.Fatalf("manifest: engine %s, position %q, %d chunks", m.Engine, m.GtidPosition, len(m.Chunks))
	}
	res, err := e.Verify(ctx, m.Name, nil)
	if err != nil || !res.Ok || len(res.Tables) != 1 || res.Tables[0].RowsFound != 20000 {
		t.Fatalf("verify: %v, %v", res, err)
	}

	execEach(t, db, "UPDATE t SET v = 'changed' WHERE id <= 100", "INSERT INTO t VALUES (30000, 'new')")
	if _, _, err := e.ArchiveBinlogs(ctx, true); err != nil {
		t.Fatal(err)
	}
	// Written after the last archiving: the restore to the latest moment
	// archives it first, so it is restored too.
	execEach(t, db, "DELETE FROM t WHERE id > 10000")
	want := checksums(t, db, "ks", "t")
	execUnlogged(t, db, "DELETE FROM t WHERE id < 50")
	db.Close()
	if err := e.Restore(ctx, &backuppb.RestoreRequest{ToLatest: true}, nil); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, cfg.DSN("ks"))
	sameChecksums(t, "physical restore to the latest", checksums(t, db, "ks", "t"), want)

	// The server's history goes on past everything archived: the restore
	// is marked in the store, and new transactions take GTIDs the archive
	// does not hold.
	list, err := e.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Restores) != 1 {
		t.Fatalf("restore markers after a physical restore in place: %v", list.Restores)
	}
	archivedEnd := list.Binlogs[len(list.Binlogs)-1].EndPosition
	execEach(t, db, "INSERT INTO t VALUES (40000, 'after')")
	assertPast(t, gtidPos(t, db), archivedEnd)

	// Back to the backup itself: the server's GTIDs still go on.
	db.Close()
	if err := e.Restore(ctx, &backuppb.RestoreRequest{Backup: m.Name}, nil); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, cfg.DSN("ks"))
	var rows int
	if err := db.QueryRow("SELECT COUNT(*) FROM t").Scan(&rows); err != nil || rows != 20000 {
		t.Fatalf("rows after restoring the backup: %d, %v", rows, err)
	}
	if list, err = e.List(ctx); err != nil {
		t.Fatal(err)
	}
	archivedEnd = list.Binlogs[len(list.Binlogs)-1].EndPosition
	execEach(t, db, "INSERT INTO t VALUES (40001, 'after the backup')")
	assertPast(t, gtidPos(t, db), archivedEnd)
	if err := e.Restore(ctx, &backuppb.RestoreRequest{Tables: []string{"t"}, IntoDatabase: "x"}, nil); err == nil {
		t.Fatal("a physical backup restored a single table")
	}
}

// assertPast fails unless the GTID position pos is past end in every
// domain of end: the server does not reuse sequence numbers the archive
// holds.
func assertPast(t *testing.T, pos, end string) {
	t.Helper()
	p, err1 := gtidpos.Parse(pos)
	e, err2 := gtidpos.Parse(end)
	if err1 != nil || err2 != nil {
		t.Fatalf("positions %q, %q: %v %v", pos, end, err1, err2)
	}
	for d, g := range e {
		if p[d].Seq <= g.Seq {
			t.Fatalf("the server is at %s after a restore: it reuses sequence numbers the archive holds up to %s", pos, end)
		}
	}
}
