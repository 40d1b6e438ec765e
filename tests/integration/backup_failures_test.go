package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/tablet/backup"
	"github.com/shardgate/shardgate/tablet/backupstore"
	"github.com/shardgate/shardgate/tablet/mysqld"
)

// servingCalls records what a backup engine asks of the tablet's query
// service.
type servingCalls struct {
	mu   sync.Mutex
	last string
}

func (s *servingCalls) set(on bool, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = "on"
	if !on {
		s.last = "off: " + reason
	}
}

func (s *servingCalls) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// TestBackupFailedRestoreInPlaceStaysDown fails a whole-shard restore
// after it dropped the shard's tables (a chunk of the backup is corrupt):
// the tablet stays not serving with the reason, the restore is marked in
// the store and pending, backups are refused; a restore that then succeeds
// brings the shard back and serving on.
func TestBackupFailedRestoreInPlaceStaysDown(t *testing.T) {
	cfg, db := startBackupMySQLD(t)
	execEach(t, db,
		"CREATE TABLE t1 (id INT PRIMARY KEY, v VARCHAR(20))",
		"CREATE TABLE t2 (id INT PRIMARY KEY, n INT)",
		"INSERT INTO t1 SELECT seq, CONCAT('a', seq) FROM seq_1_to_2000",
		"INSERT INTO t2 SELECT seq, seq FROM seq_1_to_2000")
	store := t.TempDir()
	e := newEngine(t, cfg, "file://"+store, nil)
	var serving servingCalls
	e.Hooks.SetServing = serving.set
	ctx := context.Background()
	first, err := e.Backup(ctx, "logical", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := checksums(t, db, "ks", "t1", "t2")
	execEach(t, db, "DELETE FROM t1 WHERE id > 1000")
	second, err := e.Backup(ctx, "logical", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The last chunk of t2 in the second backup is corrupt.
	t2 := second.Tables[slicesIndex(second.Tables, "t2")]
	chunk := filepath.Join(store, "ks", "0", "backups", second.Name, t2.Chunks[len(t2.Chunks)-1].Key)
	if err := os.WriteFile(chunk, []byte("not what was stored"), 0o600); err != nil {
		t.Fatal(err)
	}

	err = e.Restore(ctx, &backuppb.RestoreRequest{}, nil)
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("a restore from a corrupt backup: %v", err)
	}
	if got := serving.get(); !strings.HasPrefix(got, "off: restore failed: backup "+second.Name) {
		t.Fatalf("after a failed restore in place the tablet serves: %q", got)
	}
	if desc, pending := e.RestorePending(); !pending || !strings.Contains(desc, "corrupt") {
		t.Fatalf("pending restore: %v %q", pending, desc)
	}
	list, err := e.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Restores) != 1 || list.Restores[0].Backup != second.Name {
		t.Fatalf("restore markers after a failed restore in place: %v", list.Restores)
	}
	if _, err := e.Backup(ctx, "logical", nil); err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("a backup of the incomplete shard: %v", err)
	}

	if err := e.Restore(ctx, &backuppb.RestoreRequest{Backup: first.Name}, nil); err != nil {
		t.Fatal(err)
	}
	if got := serving.get(); got != "on" {
		t.Fatalf("after a successful restore: serving %q", got)
	}
	if _, pending := e.RestorePending(); pending {
		t.Fatal("the restore is still pending after one succeeded")
	}
	sameChecksums(t, "restored from the first backup", checksums(t, db, "ks", "t1", "t2"), want)
}

func slicesIndex(tables []*backuppb.Table, name string) int {
	for i, t := range tables {
		if t.Name == name {
			return i
		}
	}
	return -1
}

// TestBackupRestoreChecksLoadedRows restores from manifests that do not
// match their chunks: a value the column does not take (LOAD DATA LOCAL
// makes the error a warning and stores 0) and a checksum that differs.
// Both restores fail instead of loading other data than the backup's.
func TestBackupRestoreChecksLoadedRows(t *testing.T) {
	cfg, db := startBackupMySQLD(t)
	execEach(t, db,
		"CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))",
		"INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_300")
	store := t.TempDir()
	e := newEngine(t, cfg, "file://"+store, nil)
	ctx := context.Background()
	m, err := e.Backup(ctx, "logical", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := backupstore.Open(ctx, "file://"+store)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sh := s.Shard("ks", "0")
	rewrite := func(change func(*backuppb.Table)) {
		t.Helper()
		m2, err := sh.ReadManifest(ctx, m.Name)
		if err != nil {
			t.Fatal(err)
		}
		change(m2.Tables[0])
		if err := sh.WriteManifest(ctx, m2); err != nil {
			t.Fatal(err)
		}
	}

	rewrite(func(tb *backuppb.Table) {
		tb.CreateSql = strings.Replace(tb.CreateSql, "`v` varchar(20)", "`v` int", 1)
	})
	err = e.Restore(ctx, &backuppb.RestoreRequest{IntoDatabase: "typed"}, nil)
	if err == nil || !strings.Contains(err.Error(), "did not load as stored") || !strings.Contains(err.Error(), "Warning") {
		t.Fatalf("a load that converts values: %v", err)
	}

	rewrite(func(tb *backuppb.Table) {
		tb.CreateSql = strings.Replace(tb.CreateSql, "`v` int", "`v` varchar(20)", 1)
		tb.Checksum++
	})
	err = e.Restore(ctx, &backuppb.RestoreRequest{IntoDatabase: "summed"}, nil)
	if err == nil || !strings.Contains(err.Error(), "differs from the backup") {
		t.Fatalf("a load whose checksum differs from the manifest's: %v", err)
	}
	// Into the shard's own table, the failed load changes nothing: the
	// table is loaded aside and would only then be swapped in.
	execEach(t, db, "UPDATE t SET v = 'changed' WHERE id = 1")
	changed := checksums(t, db, "ks", "t")
	err = e.Restore(ctx, &backuppb.RestoreRequest{Tables: []string{"t"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "differs from the backup") {
		t.Fatalf("a table restore in place whose checksum differs from the manifest's: %v", err)
	}
	sameChecksums(t, "after a failed table restore in place", checksums(t, db, "ks", "t"), changed)
	noStagingLeft := func() {
		t.Helper()
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name LIKE '\\_shardgate\\_restore\\_%'").Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d staging databases left after the restore (%v)", n, err)
		}
	}
	noStagingLeft()

	rewrite(func(tb *backuppb.Table) { tb.Checksum-- })
	if err := e.Restore(ctx, &backuppb.RestoreRequest{IntoDatabase: "good"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Restore(ctx, &backuppb.RestoreRequest{Tables: []string{"t"}}, nil); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := db.QueryRow("SELECT v FROM t WHERE id = 1").Scan(&v); err != nil || v != "v1" {
		t.Fatalf("after the table restore in place, row 1 holds %q (%v), want the backup's v1", v, err)
	}
	sameChecksums(t, "restored", checksums(t, db, "good", "t"), checksums(t, db, "ks", "t"))
	noStagingLeft()

	// A trigger cannot follow a table renamed into the shard's database:
	// the restore refuses before it loads anything.
	execEach(t, db, "CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW SET NEW.v = NEW.v")
	err = e.Restore(ctx, &backuppb.RestoreRequest{Tables: []string{"t"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "1 triggers") || !strings.Contains(err.Error(), "--into-database") {
		t.Fatalf("a table restore in place of a table with a trigger: %v", err)
	}
	noStagingLeft()
}

// TestBackupEngineRemovesLeftoverScratchServers starts an engine on the
// state directory of a tablet that died while a scratch server ran: the
// server is stopped and its directory removed.
func TestBackupEngineRemovesLeftoverScratchServers(t *testing.T) {
	cfg, _ := startBackupMySQLD(t)
	state, err := os.MkdirTemp("", "sgstate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	dir := filepath.Join(state, "scratch", "s123")
	scratch := mysqld.Config{DataDir: dir, Port: freePort(t), ServerID: 77}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := mysqld.Init(ctx, scratch); err != nil {
		t.Fatal(err)
	}
	if _, err := mysqld.Start(ctx, scratch); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mysqld.StopDataDir(context.Background(), dir) })
	if err := os.MkdirAll(filepath.Join(state, "tmp", "replay1"), 0o750); err != nil {
		t.Fatal(err)
	}

	newEngine(t, cfg, "file://"+t.TempDir(), func(c *backup.Config) { c.StateDir = state })
	if pid, ok := mysqld.Running(dir); ok {
		t.Fatalf("the leftover scratch server still runs (pid %d)", pid)
	}
	for _, p := range []string{dir, filepath.Join(state, "tmp")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is left: %v", p, err)
		}
	}
}
