package backup

import (
	"context"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/tablet/backupstore"
)

// AutoRestore restores the shard's latest backup into the tablet's new,
// empty server and replays every archived binlog after it, so that the
// shard is back where its archive ends. It continues the server's binlog
// from there. It reports false when the shard has no backup (a new shard:
// the server stays empty).
func (e *Engine) AutoRestore(ctx context.Context) (bool, error) {
	backups, _, err := e.shard.ListBackups(ctx)
	if err != nil {
		return false, err
	}
	if len(backups) == 0 {
		e.log.Info("the tablet's server is new and the shard has no backup: starting empty", zap.String("storage", e.store.URL()))
		return false, nil
	}
	p := newProgress("restore", e.m)
	end, err := e.begin(ctx, p)
	if err != nil {
		return false, err
	}
	plan, err := e.plan(ctx, backupstore.Target{Kind: backupstore.ToLatest})
	if err == nil {
		e.log.Info("the tablet's server is new: restoring the shard's latest backup and archived binlogs",
			zap.String("backup", plan.Backup.Name), zap.Int("binlogs", len(plan.Binlogs)))
		err = e.restoreInPlace(ctx, plan, p, true)
	}
	detail := ""
	if plan != nil {
		detail = "auto-restore of " + plan.Backup.Name
	}
	end(detail, err)
	return err == nil, err
}
