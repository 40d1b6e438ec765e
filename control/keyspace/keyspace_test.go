package keyspace

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/topo"
)

func newTopo(t *testing.T) *topo.Server {
	t.Helper()
	ts := topo.NewServer(topo.NewMemoryStore(), "")
	t.Cleanup(func() { _ = ts.Close() })
	return ts
}

func shardNames(t *testing.T, ts *topo.Server, ks string) []string {
	t.Helper()
	shards, err := ts.ListShards(context.Background(), ks)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range shards {
		names = append(names, s.Name)
	}
	return names
}

func TestParseShards(t *testing.T) {
	tests := []struct {
		spec    string
		want    []string
		wantErr string
	}{
		{spec: "1", want: []string{"0"}},
		{spec: "2", want: []string{"-80", "80-"}},
		{spec: "4", want: []string{"-40", "40-80", "80-c0", "c0-"}},
		{spec: "-80, 80-", want: []string{"-80", "80-"}},
		{spec: "0", want: []string{"0"}}, // the unsharded shard's name, as a restart reads it back
		{spec: "-", want: []string{"-"}}, // a one-shard sharded keyspace
		{spec: "3", wantErr: "power of two"},
		{spec: "", wantErr: "no shards given"},
	}
	for _, tt := range tests {
		got, err := ParseShards(tt.spec)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseShards(%q) error = %v, want one containing %q", tt.spec, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseShards(%q) = %q, %v; want %q", tt.spec, got, err, tt.want)
		}
	}
}

func TestCreateKeyspaceSharded(t *testing.T) {
	ctx := context.Background()
	ts := newTopo(t)
	// Given out of order: stored and served in key order.
	if err := CreateKeyspace(ctx, ts, "commerce", []string{"80-c0", "-40", "c0-", "40-80"}, false); err != nil {
		t.Fatal(err)
	}
	ks, err := ts.GetKeyspace(ctx, "commerce")
	if err != nil {
		t.Fatal(err)
	}
	if !ks.Sharded {
		t.Error("a keyspace of four shards is not recorded as sharded")
	}
	if got, want := shardNames(t, ts, "commerce"), []string{"-40", "40-80", "80-c0", "c0-"}; !slices.Equal(got, want) {
		t.Errorf("shards = %q, want %q", got, want)
	}
	srv, err := ts.GetSrvKeyspace(ctx, topo.DefaultCell, "commerce")
	if err != nil {
		t.Fatalf("no serving graph in %s: %v", topo.DefaultCell, err)
	}
	if !srv.Sharded || len(srv.Partitions) == 0 {
		t.Fatalf("serving graph = %v", srv)
	}
	for _, p := range srv.Partitions {
		if len(p.Shards) != 4 {
			t.Errorf("partition %s serves %d shards, want 4", p.TabletType, len(p.Shards))
		}
	}

	err = CreateKeyspace(ctx, ts, "commerce", []string{"0"}, false)
	if !errors.Is(err, topo.ErrExists) {
		t.Errorf("creating it again: error = %v, want ErrExists", err)
	}
}

func TestCreateKeyspaceUnshardedAndCell(t *testing.T) {
	ctx := context.Background()
	ts := newTopo(t)
	if err := CreateKeyspace(ctx, ts, "lookup", []string{"0"}, false, control.InCell("zone2")); err != nil {
		t.Fatal(err)
	}
	ks, err := ts.GetKeyspace(ctx, "lookup")
	if err != nil || ks.Sharded {
		t.Fatalf("keyspace = %v, %v; want an unsharded one", ks, err)
	}
	if _, err := ts.GetSrvKeyspace(ctx, "zone2", "lookup"); err != nil {
		t.Errorf("no serving graph in zone2: %v", err)
	}
	if _, err := ts.GetSrvKeyspace(ctx, topo.DefaultCell, "lookup"); !errors.Is(err, topo.ErrNotFound) {
		t.Errorf("serving graph in %s: error = %v, want not found", topo.DefaultCell, err)
	}

	// A sharded keyspace of one shard covers the whole key space as "-".
	if err := CreateKeyspace(ctx, ts, "single", []string{"0"}, true); err != nil {
		t.Fatal(err)
	}
	if got := shardNames(t, ts, "single"); !slices.Equal(got, []string{"-"}) {
		t.Errorf("shards of a sharded single-shard keyspace = %q, want [-]", got)
	}
}

func TestCreateKeyspaceRejected(t *testing.T) {
	tests := []struct {
		name    string
		ks      string
		shards  []string
		sharded bool
		want    []string // substrings of the error
	}{
		{name: "gap", ks: "ks", shards: []string{"-40", "80-"}, want: []string{`"-40"`, `"80-"`, "gap", "40-80"}},
		{name: "overlap", ks: "ks", shards: []string{"-80", "40-"}, want: []string{`"-80"`, `"40-"`, "overlap"}},
		{name: "gap at the end", ks: "ks", shards: []string{"-40", "40-80"}, want: []string{`"40-80"`, "80-", "not covered"}},
		{name: "bad shard name", ks: "ks", shards: []string{"-8", "8-"}, want: []string{`"-8"`, "odd number"}},
		{name: "unsharded with a range", ks: "ks", shards: []string{"-80"}, want: []string{`one shard named "0"`, `"-80"`}},
		{name: "bad keyspace name", ks: "my ks", shards: []string{"0"}, want: []string{`"my ks"`}},
		{name: "no shards", ks: "ks", want: []string{"no shards"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			ts := newTopo(t)
			err := CreateKeyspace(ctx, ts, tt.ks, tt.shards, tt.sharded)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			kss, lerr := ts.ListKeyspaces(ctx)
			if lerr != nil || len(kss) != 0 {
				t.Errorf("after a rejected create the topology holds %v (%v), want nothing", kss, lerr)
			}
		})
	}
}

func TestEnsureKeyspace(t *testing.T) {
	ctx := context.Background()
	ts := newTopo(t)
	created, err := EnsureKeyspace(ctx, ts, "ks", []string{"-80", "80-"}, true)
	if err != nil || !created {
		t.Fatalf("first EnsureKeyspace = %v, %v; want created", created, err)
	}
	created, err = EnsureKeyspace(ctx, ts, "ks", []string{"-80", "80-"}, true)
	if err != nil || created {
		t.Fatalf("second EnsureKeyspace = %v, %v; want kept", created, err)
	}
	// A shard lost from the topology is recreated.
	if err := ts.Store().Delete(ctx, topo.DefaultRoot+"/keyspaces/ks/shards/80-", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureKeyspace(ctx, ts, "ks", []string{"-80", "80-"}, true); err != nil {
		t.Fatal(err)
	}
	if got := shardNames(t, ts, "ks"); !slices.Equal(got, []string{"-80", "80-"}) {
		t.Errorf("shards = %q", got)
	}
	_, err = EnsureKeyspace(ctx, ts, "ks", []string{"-40", "40-80", "80-c0", "c0-"}, true)
	if err == nil || !strings.Contains(err.Error(), "exists with shards -80,80-") {
		t.Errorf("different shards: error = %v", err)
	}
	_, err = EnsureKeyspace(ctx, ts, "ks", []string{"0"}, false)
	if err == nil || !strings.Contains(err.Error(), "sharded=true") {
		t.Errorf("different sharding: error = %v", err)
	}
}

func TestCreateKeyspaceRollsBack(t *testing.T) {
	ctx := context.Background()
	ts := newTopo(t)
	// A shard record left over without its keyspace makes CreateShard fail
	// after the keyspace record was written.
	if _, err := ts.Store().Create(ctx, topo.DefaultRoot+"/keyspaces/ks/shards/80-", []byte{}); err != nil {
		t.Fatal(err)
	}
	err := CreateKeyspace(ctx, ts, "ks", []string{"-80", "80-"}, true)
	if err == nil || !strings.Contains(err.Error(), "80-") {
		t.Fatalf("error = %v, want one naming shard 80-", err)
	}
	if _, err := ts.GetKeyspace(ctx, "ks"); !errors.Is(err, topo.ErrNotFound) {
		t.Errorf("keyspace record left behind: %v", err)
	}
}
