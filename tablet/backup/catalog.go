package backup

import (
	"context"
	"strings"
	"time"

	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/tablet/backupstore"
)

// staleAfter is how old an incomplete backup or unfinished upload of
// another tablet must be before Prune removes it: it may still be running.
const staleAfter = time.Hour

// List returns the shard's backups, incomplete ones, archived binlogs and
// restore markers.
func (e *Engine) List(ctx context.Context) (*backuppb.ListBackupsResponse, error) {
	complete, incomplete, err := e.shard.ListBackups(ctx)
	if err != nil {
		return nil, err
	}
	binlogs, err := e.shard.ListBinlogs(ctx)
	if err != nil {
		return nil, err
	}
	markers, err := e.shard.ListRestoreMarkers(ctx)
	if err != nil {
		return nil, err
	}
	resp := &backuppb.ListBackupsResponse{Incomplete: incomplete, Binlogs: binlogs, Restores: markers}
	for _, m := range complete {
		resp.Backups = append(resp.Backups, &backuppb.BackupInfo{
			Name: m.Name, Engine: m.Engine, GtidPosition: m.GtidPosition, SnapshotUnixNanos: m.SnapshotUnixNanos,
			FinishedUnixNanos: m.FinishedUnixNanos, Rows: m.Rows, Tables: int32(len(m.Tables)),
			RawBytes: m.RawBytes, StoredBytes: m.StoredBytes, TabletAlias: m.TabletAlias,
		})
	}
	return resp, nil
}

// Prune keeps the newest keep backups (and the binlogs from the oldest of
// them on), and removes incomplete backups and unfinished uploads that no
// running backup owns: this tablet's at once, other tablets' once they
// are an hour old.
func (e *Engine) Prune(ctx context.Context, keep int) (*backuppb.PruneResponse, error) {
	runningName := ""
	if n := e.running.Load(); n != nil {
		runningName = *n
	}
	abandoned := func(name string) bool {
		if name == runningName {
			return false
		}
		if backupstore.NameTablet(name) == e.cfg.Alias {
			return true
		}
		t, ok := backupstore.NameTime(name)
		return ok && time.Since(t) > staleAfter
	}
	resp, err := e.shard.Prune(ctx, backupstore.PruneOptions{Keep: keep, RemoveIncomplete: abandoned})
	if err != nil {
		return resp, err
	}
	// Binlog uploads are this tablet's: none runs while archiveMu is held.
	e.archiveMu.Lock()
	defer e.archiveMu.Unlock()
	n, err := e.shard.AbortStaleUploads(ctx, time.Now(), func(key string) bool {
		// backups/<name>/...: keep the uploads of backups that may run.
		rest, ok := strings.CutPrefix(key, "backups/")
		if !ok {
			return false
		}
		name, _, _ := strings.Cut(rest, "/")
		return !abandoned(name)
	})
	resp.AbortedUploads = int32(n)
	return resp, err
}
