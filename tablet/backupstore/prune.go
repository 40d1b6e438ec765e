package backupstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/proto/backuppb"
)

// PruneOptions says what Prune may remove besides old backups.
type PruneOptions struct {
	// Keep is how many complete backups to keep, newest first (at least 1).
	Keep int
	// RemoveIncomplete says whether an incomplete backup may go: false for
	// one that may still be running.
	RemoveIncomplete func(name string) bool
}

// Prune removes all but the newest opts.Keep complete backups, the
// archived binlogs that only matter before the oldest kept backup, and the
// incomplete backups opts allows. Binlogs from the oldest kept backup on
// are kept, so any moment since it stays reachable.
func (sh Shard) Prune(ctx context.Context, opts PruneOptions) (*backuppb.PruneResponse, error) {
	if opts.Keep < 1 {
		return nil, errors.New("prune: keep at least 1 backup")
	}
	listing, err := sh.ListBackups(ctx)
	if err != nil {
		return nil, err
	}
	// Unusable backups are left alone: their manifest may be readable by
	// the version that wrote it.
	complete, incomplete := listing.Complete, listing.Incomplete
	resp := &backuppb.PruneResponse{}
	for _, name := range incomplete {
		if opts.RemoveIncomplete != nil && opts.RemoveIncomplete(name) {
			if err := sh.DeleteBackup(ctx, name); err != nil {
				return resp, err
			}
			resp.DeletedIncomplete = append(resp.DeletedIncomplete, name)
		}
	}
	if len(complete) <= opts.Keep {
		return resp, nil
	}
	drop, kept := complete[:len(complete)-opts.Keep], complete[len(complete)-opts.Keep:]
	oldest, err := gtidpos.Parse(kept[0].GtidPosition)
	if err != nil {
		return resp, fmt.Errorf("backup %s: %w", kept[0].Name, err)
	}
	for _, m := range drop {
		if err := sh.DeleteBackup(ctx, m.Name); err != nil {
			return resp, err
		}
		resp.DeletedBackups = append(resp.DeletedBackups, m.Name)
	}
	binlogs, _, err := sh.ListBinlogs(ctx)
	if err != nil {
		return resp, err
	}
	// The XA PREPAREs that kept backups replay are in older files.
	var needed []gtidpos.Position
	for _, m := range kept {
		for _, x := range m.PreparedXa {
			if g, err := gtidpos.Parse(x.Gtid); err == nil {
				needed = append(needed, g)
			}
		}
	}
	for _, e := range binlogs {
		start, err1 := gtidpos.Parse(e.StartPosition)
		end, err2 := gtidpos.Parse(e.EndPosition)
		if err1 != nil || err2 != nil || !oldest.AtLeast(end) || e.LastEventUnix*1e9 >= kept[0].SnapshotUnixNanos {
			continue
		}
		if slices.ContainsFunc(needed, func(g gtidpos.Position) bool { return end.AtLeast(g) && !start.AtLeast(g) }) {
			continue
		}
		if err := sh.DeleteBinlog(ctx, e); err != nil {
			return resp, err
		}
		resp.DeletedBinlogs++
	}
	return resp, nil
}
