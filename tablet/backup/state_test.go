package backup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardgate/shardgate/proto/backuppb"
)

// newTestEngine is an engine on a file store that reaches no server: for
// what it does without one.
func newTestEngine(t *testing.T) *Engine {
	t.Helper()
	cfg := Defaults()
	cfg.Alias, cfg.Keyspace, cfg.Shard, cfg.Database = "zone1-1", "ks", "0", "ks"
	cfg.Storage = t.TempDir()
	cfg.StateDir = t.TempDir()
	cfg.MySQL = MySQL{Socket: filepath.Join(t.TempDir(), "none.sock"), User: "root"}
	e, err := New(context.Background(), cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

type servingLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *servingLog) set(on bool, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if on {
		l.calls = append(l.calls, "on")
	} else {
		l.calls = append(l.calls, "off: "+reason)
	}
}

func (l *servingLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.calls) == 0 {
		return ""
	}
	return l.calls[len(l.calls)-1]
}

// A whole-shard restore that fails after it began to change the shard
// leaves the tablet not serving, with the reason, and the restore
// pending; one that fails before changes nothing and serves again; one
// that succeeds clears the pending restore and serves.
func TestFinishInPlaceServing(t *testing.T) {
	e := newTestEngine(t)
	var sv servingLog
	e.Hooks.SetServing = sv.set
	req := &backuppb.RestoreRequest{ToLatest: true}

	if err := e.finishInPlace("b1", false, errors.New("store down")); err == nil {
		t.Fatal("the error was lost")
	}
	if sv.last() != "on" {
		t.Fatalf("a restore that changed nothing: serving %q", sv.last())
	}

	if err := e.markPending(req, false); err != nil {
		t.Fatal(err)
	}
	e.finishInPlace("b1", true, errors.New("chunk corrupt"))
	if got := sv.last(); !strings.HasPrefix(got, "off: restore failed: backup b1: chunk corrupt") {
		t.Fatalf("a restore that failed half-way: serving %q", got)
	}
	desc, pending := e.RestorePending()
	if !pending || !strings.Contains(desc, "chunk corrupt") || !strings.Contains(desc, `"toLatest":true`) {
		t.Fatalf("pending: %v %q", pending, desc)
	}
	// Another restore that fails before changing anything does not bring
	// the incomplete shard back.
	e.finishInPlace("b2", false, errors.New("no such backup"))
	if got := sv.last(); !strings.HasPrefix(got, "off: restore failed: ") {
		t.Fatalf("after a second failure, with the shard incomplete: serving %q", got)
	}
	// Backups of the incomplete shard are refused.
	if _, err := e.Backup(context.Background(), "logical", nil); err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("a backup of an incomplete shard: %v", err)
	}

	if err := e.markPending(req, false); err != nil {
		t.Fatal(err)
	}
	if pr, _ := e.readPending(); pr.Attempts != 2 || pr.LastError == "" {
		t.Fatalf("a retried restore: %+v", pr)
	}
	if err := e.finishInPlace("b1", true, nil); err != nil {
		t.Fatal(err)
	}
	if sv.last() != "on" {
		t.Fatalf("after a successful restore: serving %q", sv.last())
	}
	if _, pending := e.RestorePending(); pending {
		t.Fatal("the pending restore survived a successful one")
	}
}

func TestPendingRestoreFile(t *testing.T) {
	e := newTestEngine(t)
	if _, pending := e.RestorePending(); pending {
		t.Fatal("pending on a new engine")
	}
	if err := e.MarkNewServer(); err != nil {
		t.Fatal(err)
	}
	desc, pending := e.RestorePending()
	if !pending || !strings.Contains(desc, "new server") {
		t.Fatalf("after MarkNewServer: %v %q", pending, desc)
	}
	// The restore of the new server, resumed, keeps its start and counts.
	pr, _ := e.readPending()
	if err := e.markPending(nil, true); err != nil {
		t.Fatal(err)
	}
	if pr2, _ := e.readPending(); !pr2.NewServer || !pr2.Since.Equal(pr.Since) || pr2.Attempts != 1 {
		t.Fatalf("resumed: %+v (was %+v)", pr2, pr)
	}
	// A file that cannot be read counts as pending: the shard may be
	// incomplete.
	if err := os.WriteFile(e.pendingPath(), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if desc, pending := e.RestorePending(); !pending || !strings.Contains(desc, "remove it") {
		t.Fatalf("unreadable: %v %q", pending, desc)
	}
	if err := e.ResumeRestore(context.Background()); err == nil {
		t.Fatal("resumed an unreadable pending restore")
	}
}

// Prune waits for the running operation: a backup that began after it
// listed the store would otherwise look abandoned and lose its chunks.
func TestPruneWaitsForTheRunningOperation(t *testing.T) {
	e := newTestEngine(t)
	end, err := e.begin(context.Background(), newProgress("backup", e.m))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := e.Prune(context.Background(), 1)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("prune ran beside a backup: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	end("", nil)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("prune did not run once the backup ended")
	}
}

func TestScratchDirsAreUnderTheStateDir(t *testing.T) {
	e := newTestEngine(t)
	dir, remove, err := e.newScratchDir()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(dir) != filepath.Join(e.cfg.StateDir, scratchName) {
		t.Fatalf("scratch dir %s is not under %s", dir, e.cfg.StateDir)
	}
	remove()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("removed scratch dir: %v", err)
	}

	// Too deep for a unix socket: made in the temporary directory, linked
	// from the state directory.
	deep := filepath.Join(t.TempDir(), strings.Repeat("d", 90))
	e.cfg.StateDir = deep
	dir, remove, err = e.newScratchDir()
	if err != nil {
		t.Fatal(err)
	}
	links, _ := os.ReadDir(filepath.Join(deep, scratchName))
	if len(links) != 1 {
		t.Fatalf("links in %s: %v", deep, links)
	}
	if target, err := os.Readlink(filepath.Join(deep, scratchName, links[0].Name())); err != nil || target != dir {
		t.Fatalf("link to %s: %s, %v", dir, target, err)
	}
	// What a dead tablet leaves is removed by the next engine.
	if err := os.WriteFile(filepath.Join(dir, "leftover"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(deep, tmpName, "replay1"), 0o750); err != nil {
		t.Fatal(err)
	}
	removeLeftovers(context.Background(), deep, e.log)
	for _, p := range []string{dir, filepath.Join(deep, scratchName, links[0].Name()), filepath.Join(deep, tmpName)} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is left: %v", p, err)
		}
	}
	_ = remove
}
