package topo

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/proto/topopb"
)

func TestKeyspaceShardsAndServingGraph(t *testing.T) {
	ctx := context.Background()
	ts := NewServer(NewMemoryStore(), "")
	if err := ts.CreateKeyspace(ctx, &topopb.Keyspace{Name: "commerce", Sharded: true}); err != nil {
		t.Fatal(err)
	}
	if err := ts.CreateKeyspace(ctx, &topopb.Keyspace{Name: "commerce"}); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: got %v, want ErrExists", err)
	}
	for _, s := range []string{"80-", "-80"} {
		if _, err := ts.CreateShard(ctx, "commerce", s); err != nil {
			t.Fatal(err)
		}
	}
	shards, err := ts.ListShards(ctx, "commerce")
	if err != nil || len(shards) != 2 || shards[0].Name != "-80" {
		t.Fatalf("ListShards = %v, %v; want -80 then 80-", shards, err)
	}
	if err := ts.RebuildSrvKeyspace(ctx, DefaultCell, "commerce"); err != nil {
		t.Fatal(err)
	}
	srv, err := ts.GetSrvKeyspace(ctx, DefaultCell, "commerce")
	if err != nil || len(srv.Partitions) != 1 || srv.Partitions[0].TabletType != topopb.TabletType_PRIMARY || len(srv.Partitions[0].Shards) != 2 {
		t.Fatalf("serving graph without tablets = %v, %v; want the primary partition alone", srv, err)
	}
	// A replica partition appears once every shard has a replica, and goes
	// when one shard has none left.
	served := func() []topopb.TabletType {
		srv, err := ts.GetSrvKeyspace(ctx, DefaultCell, "commerce")
		if err != nil {
			t.Fatal(err)
		}
		var out []topopb.TabletType
		for _, p := range srv.Partitions {
			if len(p.Shards) != 2 {
				t.Fatalf("partition %v does not cover the keyspace", p)
			}
			out = append(out, p.TabletType)
		}
		return out
	}
	register := func(alias, shard string, typ topopb.TabletType) {
		if err := ts.SaveTablet(ctx, &topopb.Tablet{Alias: alias, Cell: DefaultCell, Keyspace: "commerce", Shard: shard, Type: typ}); err != nil {
			t.Fatal(err)
		}
		if err := ts.RefreshServedTypes(ctx, "commerce"); err != nil {
			t.Fatal(err)
		}
	}
	register("zone1-101", "-80", topopb.TabletType_REPLICA)
	if got := served(); len(got) != 1 {
		t.Fatalf("one shard of two has a replica: serving %v, want the primary alone", got)
	}
	register("zone1-201", "80-", topopb.TabletType_REPLICA)
	if got := served(); len(got) != 2 || got[1] != topopb.TabletType_REPLICA {
		t.Fatalf("every shard has a replica: serving %v, want primary and replica", got)
	}
	register("zone1-201", "80-", topopb.TabletType_PRIMARY) // promoted: 80- has no replica left
	if got := served(); len(got) != 1 {
		t.Fatalf("80- lost its replica: serving %v, want the primary alone", got)
	}
	kss, err := ts.ListKeyspaces(ctx)
	if err != nil || len(kss) != 1 || kss[0].Name != "commerce" {
		t.Fatalf("ListKeyspaces = %v, %v (shard records must not appear as keyspaces)", kss, err)
	}
}

func TestServingGraphRefusesGaps(t *testing.T) {
	ctx := context.Background()
	ts := NewServer(NewMemoryStore(), "")
	_ = ts.CreateKeyspace(ctx, &topopb.Keyspace{Name: "ks", Sharded: true})
	for _, s := range []string{"-40", "80-"} {
		if _, err := ts.CreateShard(ctx, "ks", s); err != nil {
			t.Fatal(err)
		}
	}
	err := ts.RebuildSrvKeyspace(ctx, DefaultCell, "ks")
	if err == nil || !strings.Contains(err.Error(), "ks") {
		t.Fatalf("a gap between -40 and 80- must be refused naming the keyspace, got %v", err)
	}
}

func TestUpdateShardIsCompareAndSet(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	_, v1, _ := store.Get(ctx, "x")
	if v1 != 0 {
		t.Fatal("missing key must have version 0")
	}
	v, err := store.Create(ctx, "x", []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Update(ctx, "x", []byte("b"), v+100); !errors.Is(err, ErrBadVersion) {
		t.Fatalf("stale version: got %v, want ErrBadVersion", err)
	}
	if _, err := store.Update(ctx, "x", []byte("b"), v); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(ctx, "x", 0); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(ctx, "x", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: got %v, want ErrNotFound", err)
	}
}

func TestWatchTabletsSendsSnapshots(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ts := NewServer(NewMemoryStore(), "")
	ch, err := ts.WatchTablets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first := <-ch; len(first) != 0 {
		t.Fatalf("first snapshot = %v, want empty", first)
	}
	if err := ts.SaveTablet(ctx, &topopb.Tablet{Alias: "zone1-100", Keyspace: "ks", Shard: "0"}); err != nil {
		t.Fatal(err)
	}
	select {
	case snap := <-ch:
		if len(snap) != 1 || snap[0].Alias != "zone1-100" {
			t.Fatalf("snapshot = %v", snap)
		}
	case <-ctx.Done():
		t.Fatal("no snapshot after a tablet was saved")
	}
}
