package backupstore

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/shardgate/shardgate/proto/backuppb"
)

func TestFileStoreBackupsAreListedOnlyWithAManifest(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sh := s.Shard("ks", "-80")

	name := BackupName(time.Date(2026, 11, 30, 8, 45, 12, 123e6, time.UTC), "zone1-100")
	if name != "20261130T084512.123Z-zone1-100" || NameTablet(name) != "zone1-100" {
		t.Fatalf("name %s", name)
	}
	if tm, ok := NameTime(name); !ok || tm.Nanosecond() != 123e6 {
		t.Fatalf("NameTime(%s) = %v", name, tm)
	}
	key := TableChunkKey("t1", 0)
	sum, err := sh.PutChunk(ctx, name, key, []byte("rows"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := sh.ListBackups(ctx)
	if err != nil || len(l.Complete) != 0 || len(l.Incomplete) != 1 || l.Incomplete[0] != name {
		t.Fatalf("before the manifest: %+v, %v", l, err)
	}
	m := &backuppb.Manifest{Name: name, Keyspace: "ks", Shard: "-80", GtidPosition: "0-100-5", SnapshotUnixNanos: 1,
		Tables: []*backuppb.Table{{Name: "t1", Chunks: []*backuppb.Chunk{{Key: key, Sha256: sum, StoredBytes: 4}}}}}
	if err := sh.WriteManifest(ctx, m); err != nil {
		t.Fatal(err)
	}
	l, err = sh.ListBackups(ctx)
	if err != nil || len(l.Complete) != 1 || len(l.Incomplete) != 0 || l.Complete[0].GtidPosition != "0-100-5" {
		t.Fatalf("after the manifest: %+v, %v", l, err)
	}
	data, err := sh.ReadChunk(ctx, name, m.Tables[0].Chunks[0])
	if err != nil || string(data) != "rows" {
		t.Fatalf("ReadChunk: %q, %v", data, err)
	}
	bad := &backuppb.Chunk{Key: key, Sha256: "00"}
	if _, err := sh.ReadChunk(ctx, name, bad); err == nil {
		t.Fatal("a chunk whose checksum differs must not be read")
	}
	if _, err := s.Shard("ks", "80-").ReadManifest(ctx, name); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another shard's backup: %v", err)
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir()) // a plain path is a file store
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sh := s.Shard("ks", "0")
	for i, pos := range []string{"0-1-10", "0-1-20", "0-1-30"} {
		name := BackupName(time.Unix(int64(100*(i+1)), 0), "zone1-100")
		if err := sh.WriteManifest(ctx, &backuppb.Manifest{Name: name, GtidPosition: pos, SnapshotUnixNanos: int64(100*(i+1)) * 1e9}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sh.PutChunk(ctx, "19700101T000000.000Z-zone1-100", "x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*backuppb.BinlogArchive{
		{File: "f1", StartPosition: "", EndPosition: "0-1-10", FirstEventUnix: 50, LastEventUnix: 105},
		{File: "f2", StartPosition: "0-1-10", EndPosition: "0-1-15", FirstEventUnix: 105, LastEventUnix: 150},
		{File: "f3", StartPosition: "0-1-15", EndPosition: "0-1-25", FirstEventUnix: 150, LastEventUnix: 250},
	} {
		if err := sh.PutBinlog(ctx, e, func(w io.Writer) error { _, err := io.WriteString(w, e.File); return err }); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := sh.Prune(ctx, PruneOptions{Keep: 2, RemoveIncomplete: func(string) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.DeletedBackups) != 1 || len(resp.DeletedIncomplete) != 1 || resp.DeletedBinlogs != 2 {
		t.Fatalf("prune: %v", resp)
	}
	l, _ := sh.ListBackups(ctx)
	binlogs, _, _ := sh.ListBinlogs(ctx)
	if len(l.Complete) != 2 || len(l.Incomplete) != 0 || len(binlogs) != 1 || binlogs[0].File != "f3" {
		t.Fatalf("left: %d backups, %v incomplete, binlogs %v", len(l.Complete), l.Incomplete, binlogs)
	}
	if _, err := sh.Prune(ctx, PruneOptions{Keep: 0}); err == nil {
		t.Fatal("keep 0 must be refused")
	}
}
