package backup

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/tablet/backupstore"
)

// staleAfter is how old an incomplete backup or unfinished upload of
// another tablet must be before Prune removes it: it may still be running.
const staleAfter = time.Hour

// List returns the shard's backups, incomplete ones, those whose manifest
// cannot be read, archived binlogs and restore markers.
func (e *Engine) List(ctx context.Context) (*backuppb.ListBackupsResponse, error) {
	listing, err := e.shard.ListBackups(ctx)
	if err != nil {
		return nil, err
	}
	binlogs, badBinlogs, err := e.shard.ListBinlogs(ctx)
	if err != nil {
		return nil, err
	}
	markers, err := e.shard.ListRestoreMarkers(ctx)
	if err != nil {
		return nil, err
	}
	resp := &backuppb.ListBackupsResponse{Incomplete: listing.Incomplete, Binlogs: binlogs, Restores: markers,
		UnusableBackups: listing.Unusable, UnusableBinlogs: badBinlogs}
	for _, m := range listing.Complete {
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
// are an hour old. It runs as one of the engine's operations, so no
// backup of this tablet runs meanwhile: one that began after the listing
// would otherwise look abandoned and lose its chunks.
func (e *Engine) Prune(ctx context.Context, keep int) (*backuppb.PruneResponse, error) {
	p := newProgress("prune", e.m)
	end, err := e.begin(ctx, p)
	if err != nil {
		return nil, err
	}
	resp, err := e.prune(ctx, keep)
	detail := ""
	if resp != nil {
		detail = fmt.Sprintf("%d backups, %d incomplete, %d binlogs deleted", len(resp.DeletedBackups), len(resp.DeletedIncomplete), resp.DeletedBinlogs)
	}
	end(detail, err)
	return resp, err
}

func (e *Engine) prune(ctx context.Context, keep int) (*backuppb.PruneResponse, error) {
	abandoned := func(name string) bool {
		if backupstore.NameTablet(name) == e.cfg.Alias {
			return true // this tablet runs no backup while it prunes
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
