package topo

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testSnapshot() Snapshot {
	return Snapshot{
		WrittenAt: time.Unix(1700000000, 123456789),
		Prefixes: map[string][]KV{
			"/shardgate/keyspaces/": {
				{Key: "/shardgate/keyspaces/ks", Value: []byte{0x08, 0x01}, Version: 7},
				{Key: "/shardgate/keyspaces/ks/vschema", Value: []byte(`{"sharded": true}`), Version: 9},
			},
			"/shardgate/tablets/": {},
		},
	}
}

func TestSnapshotFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate", "topology-snapshot.json")
	want := testSnapshot()
	if err := WriteSnapshotFile(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSnapshotFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.WrittenAt.Equal(want.WrittenAt) {
		t.Errorf("written at %v, want %v", got.WrittenAt, want.WrittenAt)
	}
	if !reflect.DeepEqual(got.Prefixes, want.Prefixes) {
		t.Errorf("prefixes = %+v, want %+v", got.Prefixes, want.Prefixes)
	}
}

func TestSnapshotFileIsWrittenAtomicallyForItsOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "topology-snapshot.json")
	if err := WriteSnapshotFile(path, testSnapshot()); err != nil {
		t.Fatal(err)
	}
	next := testSnapshot()
	next.Prefixes["/shardgate/tablets/"] = []KV{{Key: "/shardgate/tablets/zone1-1", Value: []byte("t"), Version: 3}}
	if err := WriteSnapshotFile(path, next); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode %v, want 0600", mode)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %v, want only the snapshot (no temporary file left)", entries)
	}
	got, err := ReadSnapshotFile(path)
	if err != nil || len(got.Prefixes["/shardgate/tablets/"]) != 1 {
		t.Fatalf("after the second write: %+v, %v; want the new tablet", got, err)
	}

	// A write that cannot finish leaves the previous file whole.
	if os.Geteuid() != 0 { // root writes into a read-only directory
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = os.Chmod(dir, 0o700) }()
		if err := WriteSnapshotFile(path, testSnapshot()); err == nil {
			t.Fatal("writing into a read-only directory succeeded")
		}
		if got, err := ReadSnapshotFile(path); err != nil || len(got.Prefixes["/shardgate/tablets/"]) != 1 {
			t.Fatalf("after a failed write: %+v, %v; want the previous file", got, err)
		}
	}
}

func TestSnapshotFileRefusesADamagedFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	if err := WriteSnapshotFile(good, testSnapshot()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, contents, want string
	}{
		{"truncated", string(data[:len(data)/2]), "is damaged"},
		{"empty", "", "is damaged"},
		{"altered", strings.Replace(string(data), `"version":7`, `"version":8`, 1), "checksum does not match"},
		{"no checksum", `{"payload": {"format": 1}}`, "no payload or no checksum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.contents == string(data) {
				t.Fatal("the case does not change the file")
			}
			path := filepath.Join(dir, tc.name+".json")
			if err := os.WriteFile(path, []byte(tc.contents), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := ReadSnapshotFile(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want one naming %s and saying %q", err, path, tc.want)
			}
		})
	}
	if _, err := ReadSnapshotFile(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing file: %v, want os.ErrNotExist", err)
	}
}
