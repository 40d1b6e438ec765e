package backup

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/tablet/backupstore"
)

// AutoRestore restores the shard's latest backup into the tablet's new,
// empty server and replays every archived binlog after it, so that the
// shard is back where its archive ends. It continues the server's binlog
// from there. It reports false when the shard has no backup (a new shard:
// the server stays empty). The restore counts as pending (MarkNewServer)
// until it succeeds.
func (e *Engine) AutoRestore(ctx context.Context) (bool, error) {
	p := newProgress("restore", e.m)
	end, err := e.begin(ctx, p)
	if err != nil {
		return false, err
	}
	restored, detail, err := e.autoRestore(ctx, p)
	end(detail, err)
	return restored, err
}

func (e *Engine) autoRestore(ctx context.Context, p *progress) (bool, string, error) {
	listing, err := e.shard.ListBackups(ctx)
	if err != nil {
		e.notePendingFailure(err)
		return false, "", err
	}
	if len(listing.Complete) == 0 {
		if len(listing.Unusable) > 0 {
			// Starting empty would serve a shard that has data somewhere.
			err := fmt.Errorf("the shard's backups cannot be read (%s: %s): refusing to start its new server empty",
				listing.Unusable[0].Name, listing.Unusable[0].Error)
			e.notePendingFailure(err)
			return false, "", err
		}
		e.log.Info("the tablet's server is new and the shard has no backup: starting empty", zap.String("storage", e.store.URL()))
		return false, "no backup: the shard starts empty", e.clearPending()
	}
	plan, err := e.plan(ctx, backupstore.Target{Kind: backupstore.ToLatest})
	if err != nil {
		e.notePendingFailure(err)
		return false, "", err
	}
	e.log.Info("the tablet's server is new: restoring the shard's latest backup and archived binlogs",
		zap.String("backup", plan.Backup.Name), zap.Int("binlogs", len(plan.Binlogs)))
	err = e.restoreInPlace(ctx, plan, p, true, nil)
	return err == nil, "auto-restore of " + plan.Backup.Name, err
}

// ResumeRestore carries out the pending restore (see state.go), if there
// is one: the latest backup and archived binlogs into a new server, or the
// operator's whole-shard restore again. The tablet calls it before it
// serves, and serves only once it succeeds.
func (e *Engine) ResumeRestore(ctx context.Context) error {
	pr, err := e.readPending()
	if err != nil || pr == nil {
		return err
	}
	if pr.NewServer {
		_, err := e.AutoRestore(ctx)
		return err
	}
	req := &backuppb.RestoreRequest{}
	if err := protojson.Unmarshal(pr.Request, req); err != nil {
		return fmt.Errorf("pending restore %s: request: %w", e.pendingPath(), err)
	}
	if len(req.Tables) > 0 || req.IntoDatabase != "" {
		return errors.New("pending restore " + e.pendingPath() + ": not a whole-shard restore")
	}
	return e.Restore(ctx, req, nil)
}
