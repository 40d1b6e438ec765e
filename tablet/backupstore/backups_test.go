package backupstore

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/proto/backuppb"
)

func testShard(t *testing.T) Shard {
	t.Helper()
	s, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Shard("ks", "0")
}

// A manifest is written only when every object it names is in the store:
// a backup whose chunks were removed while it ran (a prune that took it
// for abandoned) is never published.
func TestWriteManifestChecksObjects(t *testing.T) {
	ctx := context.Background()
	sh := testShard(t)
	name := BackupName(time.Unix(100, 0), "zone1-1")
	var chunks []*backuppb.Chunk
	for i := range 3 {
		key := TableChunkKey("t", i)
		sum, err := sh.PutChunk(ctx, name, key, []byte("rows"))
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, &backuppb.Chunk{Key: key, Sha256: sum, StoredBytes: 4})
	}
	m := &backuppb.Manifest{Name: name, Tables: []*backuppb.Table{{Name: "t", Chunks: chunks}}}
	if err := sh.delete(ctx, backupDir(name)+chunks[1].Key); err != nil {
		t.Fatal(err)
	}
	err := sh.WriteManifest(ctx, m)
	if err == nil || !strings.Contains(err.Error(), chunks[1].Key) {
		t.Fatalf("a manifest naming a removed chunk: %v", err)
	}
	l, err := sh.ListBackups(ctx)
	if err != nil || len(l.Complete) != 0 || len(l.Incomplete) != 1 {
		t.Fatalf("after the refused manifest: %+v, %v", l, err)
	}
	// A physical backup's objects are checked alike, sizes included.
	m = &backuppb.Manifest{Name: name, Chunks: []*backuppb.Chunk{{Key: chunks[0].Key, StoredBytes: 5}}}
	if err := sh.WriteManifest(ctx, m); err == nil || !strings.Contains(err.Error(), "4 bytes, not 5") {
		t.Fatalf("an object of another size: %v", err)
	}
	m.Chunks[0].StoredBytes = 4
	if err := sh.WriteManifest(ctx, m); err != nil {
		t.Fatal(err)
	}
}

// One manifest that cannot be read does not hide the others: it is listed
// as unusable, with why. Fields a newer version added are ignored.
func TestListBackupsReportsUnreadableManifests(t *testing.T) {
	ctx := context.Background()
	sh := testShard(t)
	good := BackupName(time.Unix(100, 0), "zone1-1")
	if err := sh.WriteManifest(ctx, &backuppb.Manifest{Name: good, GtidPosition: "0-1-5", SnapshotUnixNanos: 100e9}); err != nil {
		t.Fatal(err)
	}
	newer := BackupName(time.Unix(200, 0), "zone1-1")
	bad := map[string]string{
		BackupName(time.Unix(300, 0), "zone1-1"): `{"name": "x`,
		BackupName(time.Unix(400, 0), "zone1-1"): `{"name": "someone-else", "gtidPosition": "0-1-5"}`,
		BackupName(time.Unix(500, 0), "zone1-1"): `{"name": "` + BackupName(time.Unix(500, 0), "zone1-1") + `", "gtidPosition": "0-1"}`,
	}
	objects := map[string]string{newer: `{"name": "` + newer + `", "gtidPosition": "0-1-9", "snapshotUnixNanos": "200000000000", "fieldOfTomorrow": {"a": 1}}`}
	for k, v := range bad {
		objects[k] = v
	}
	for name, body := range objects {
		if _, err := sh.put(ctx, backupDir(name)+manifestName, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	l, err := sh.ListBackups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Complete) != 2 || l.Complete[0].Name != good || l.Complete[1].Name != newer || l.Complete[1].GtidPosition != "0-1-9" {
		t.Fatalf("complete backups: %v", l.Complete)
	}
	if len(l.Unusable) != len(bad) {
		t.Fatalf("unusable: %v, want %d", l.Unusable, len(bad))
	}
	for _, u := range l.Unusable {
		if _, ok := bad[u.Name]; !ok || u.Error == "" {
			t.Errorf("unusable %v", u)
		}
	}
	// Prune and plans go on with the readable backups.
	if _, err := sh.Prune(ctx, PruneOptions{Keep: 5}); err != nil {
		t.Fatal(err)
	}
	if l2, _ := sh.ListBackups(ctx); len(l2.Unusable) != len(bad) {
		t.Fatalf("prune removed unusable backups: %v", l2.Unusable)
	}
}

func TestListBinlogsReportsUnreadableDescriptions(t *testing.T) {
	ctx := context.Background()
	sh := testShard(t)
	e := &backuppb.BinlogArchive{File: "mysql-bin.000001", StartPosition: "0-1-1", EndPosition: "0-1-5"}
	if err := sh.PutBinlog(ctx, e, func(w io.Writer) error { _, err := io.WriteString(w, "x"); return err }); err != nil {
		t.Fatal(err)
	}
	for key, body := range map[string]string{
		"00000000000000000005-mysql-bin.000002": `{"key": "00000000000000000005-mysql-bin.000002", "startPosition": "0-1-5", "endPosition": "five"}`,
		"00000000000000000009-mysql-bin.000003": `not json`,
		"00000000000000000010-mysql-bin.000004": `{"key": "elsewhere", "startPosition": "0-1-10", "endPosition": "0-1-12"}`,
	} {
		if _, err := sh.put(ctx, binlogEntry(key), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	good, bad, err := sh.ListBinlogs(ctx)
	if err != nil || len(good) != 1 || good[0].Key != e.Key || len(bad) != 3 {
		t.Fatalf("binlogs %v, unusable %v, %v", good, bad, err)
	}
}
