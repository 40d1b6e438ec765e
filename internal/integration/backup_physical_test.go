package integration

import (
	"context"
	"testing"
	"time"

	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/tablet/backup"
	"github.com/shardgate/shardgate/tablet/mysqld"
)

// TestPhysicalBackup takes a backup with mariadb-backup, verifies it on a
// scratch server, and restores the shard in place from it (the server is
// stopped, its data directory replaced, and archived binlogs replayed).
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
	want := checksums(t, db, "ks", "t")
	if _, _, err := e.ArchiveBinlogs(ctx, true); err != nil {
		t.Fatal(err)
	}
	execEach(t, db, "DELETE FROM t WHERE id > 10000")
	db.Close()
	if err := e.Restore(ctx, &backuppb.RestoreRequest{ToLatest: true}, nil); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, cfg.DSN("ks"))
	sameChecksums(t, "physical restore to the latest", checksums(t, db, "ks", "t"), want)
	// The server goes on from the restored history.
	execEach(t, db, "INSERT INTO t VALUES (40000, 'after')")
	if err := e.Restore(ctx, &backuppb.RestoreRequest{Tables: []string{"t"}, IntoDatabase: "x"}, nil); err == nil {
		t.Fatal("a physical backup restored a single table")
	}
}
