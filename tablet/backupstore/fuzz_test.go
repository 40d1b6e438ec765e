package backupstore

import (
	"context"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/proto/backuppb"
)

// FuzzStoredMetadata puts whatever bytes into a store as a backup's
// manifest and an archived binlog's description, as a damaged or foreign
// store could hold them, then lists the shard's backups and binlogs and
// plans restores to the latest moment, a time and a position. Each step
// answers or fails with an error; none panics.
func FuzzStoredMetadata(f *testing.F) {
	manifest, err := marshal(&backuppb.Manifest{Name: "b1", Keyspace: "ks", Shard: "0", Engine: "logical", GtidPosition: "0-1-10",
		SnapshotUnixNanos: 100e9, Tables: []*backuppb.Table{{Name: "t", Rows: 3}},
		PreparedXa: []*backuppb.PreparedXA{{Xid: "x", Gtid: "0-1-9"}}})
	if err != nil {
		f.Fatal(err)
	}
	key := BinlogKey(gtidpos.MustParse("0-1-10"), "mysql-bin.000002")
	desc, err := marshal(&backuppb.BinlogArchive{Key: key, File: "mysql-bin.000002", StartPosition: "0-1-10",
		EndPosition: "0-1-20", FirstEventUnix: 100, LastEventUnix: 200})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(manifest, desc)
	f.Add([]byte(`{"name": "b1", "gtidPosition": "0-1-"}`), []byte(`{"key": "`+key+`", "startPosition": "x"}`))
	f.Add([]byte(`{}`), []byte(`[]`))

	ctx := context.Background()
	store, err := Open(ctx, "file://"+f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer store.Close()
	sh := store.Shard("ks", "0")
	f.Fuzz(func(t *testing.T, manifest, desc []byte) {
		if _, err := sh.put(ctx, backupDir("b1")+manifestName, manifest); err != nil {
			t.Fatal(err)
		}
		if _, err := sh.put(ctx, binlogEntry(key), desc); err != nil {
			t.Fatal(err)
		}
		listing, err := sh.ListBackups(ctx)
		if err != nil {
			t.Fatal(err) // the store answered: a bad manifest is listed as unusable, not an error
		}
		binlogs, _, err := sh.ListBinlogs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range []Target{
			{Kind: ToLatest},
			{Kind: ToTime, Time: time.Unix(150, 0)},
			{Kind: ToGTID, GTID: gtidpos.MustParse("0-1-15")},
		} {
			_, _ = PlanRestore(listing.Complete, binlogs, nil, target)
		}
	})
}
