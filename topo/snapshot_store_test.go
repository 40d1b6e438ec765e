package topo

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// downStore is a store whose watches get no answer until up is closed,
// as etcd's do while it is down.
type downStore struct {
	Store
	up chan struct{}
}

func (d downStore) WatchPrefix(ctx context.Context, prefix string) (<-chan []KV, error) {
	select {
	case <-d.up:
		return d.Store.WatchPrefix(ctx, prefix)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func nextSnapshot(t *testing.T, ch <-chan []KV) []KV {
	t.Helper()
	select {
	case kvs := <-ch:
		return kvs
	case <-time.After(5 * time.Second):
		t.Fatal("no snapshot within 5 s")
		return nil
	}
}

func TestSnapshotStoreKeepsLiveSnapshotsAndServesThemWhileTheStoreIsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "topology-snapshot.json")
	const prefix = "/shardgate/keyspaces/"

	// A gate with etcd up keeps what it watches.
	live := NewMemoryStore()
	if _, err := live.Create(ctx, prefix+"ks", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	first := NewSnapshotStore(live, path, 50*time.Millisecond, nil)
	wctx, wcancel := context.WithCancel(ctx)
	ch, _ := first.WatchPrefix(wctx, prefix)
	if kvs := nextSnapshot(t, ch); len(kvs) != 1 || string(kvs[0].Value) != "v1" {
		t.Fatalf("live snapshot %+v, want ks=v1", kvs)
	}
	if st := first.Status(); st.Source != SourceStore {
		t.Fatalf("source %v, want store", st.Source)
	}
	if _, err := live.Update(ctx, prefix+"ks", []byte("v2"), 0); err != nil {
		t.Fatal(err)
	}
	if kvs := nextSnapshot(t, ch); string(kvs[0].Value) != "v2" {
		t.Fatalf("snapshot after the change %+v, want ks=v2", kvs)
	}
	wcancel()
	snap, err := ReadSnapshotFile(path)
	if err != nil || len(snap.Prefixes[prefix]) != 1 || string(snap.Prefixes[prefix][0].Value) != "v2" {
		t.Fatalf("file after the change: %+v, %v; want ks=v2", snap, err)
	}

	// Its next process, started while etcd is down, serves the file after
	// the fallback delay, then the store once it answers.
	down := downStore{Store: live, up: make(chan struct{})}
	second := NewSnapshotStore(down, path, 50*time.Millisecond, nil)
	if st := second.Status(); st.LoadErr != nil || !st.WrittenAt.Equal(snap.WrittenAt) {
		t.Fatalf("status at start %+v, want the file read", st)
	}
	ch, _ = second.WatchPrefix(ctx, prefix)
	if kvs := nextSnapshot(t, ch); len(kvs) != 1 || string(kvs[0].Value) != "v2" {
		t.Fatalf("snapshot while the store is down %+v, want the file's ks=v2", kvs)
	}
	if st := second.Status(); st.Source != SourceSnapshot {
		t.Fatalf("source %v, want snapshot", st.Source)
	}
	if _, err := live.Update(ctx, prefix+"ks", []byte("v3"), 0); err != nil {
		t.Fatal(err)
	}
	close(down.up)
	if kvs := nextSnapshot(t, ch); string(kvs[0].Value) != "v3" {
		t.Fatalf("snapshot once the store answers %+v, want the live ks=v3", kvs)
	}
	if st := second.Status(); st.Source != SourceStore {
		t.Fatalf("source %v, want store", st.Source)
	}
	if snap, err := ReadSnapshotFile(path); err != nil || string(snap.Prefixes[prefix][0].Value) != "v3" {
		t.Fatalf("file once the store answers: %+v, %v; want ks=v3", snap, err)
	}
}

func TestSnapshotStoreWithoutAFileWaitsForTheStore(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	down := downStore{Store: NewMemoryStore(), up: make(chan struct{})}
	s := NewSnapshotStore(down, filepath.Join(t.TempDir(), "none.json"), 20*time.Millisecond, nil)
	if st := s.Status(); st.LoadErr == nil {
		t.Fatal("no error for a missing snapshot")
	}
	ch, _ := s.WatchPrefix(ctx, "/shardgate/tablets/")
	select {
	case kvs := <-ch:
		t.Fatalf("got %+v with neither store nor snapshot", kvs)
	case <-time.After(200 * time.Millisecond):
	}
	if st := s.Status(); st.Source != SourceNone {
		t.Fatalf("source %v, want none", st.Source)
	}
	close(down.up)
	if kvs := nextSnapshot(t, ch); len(kvs) != 0 {
		t.Fatalf("live snapshot %+v, want empty", kvs)
	}
}
