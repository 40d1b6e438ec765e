package backup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/tablet/backupstore"
)

// Restore brings the shard, some of its tables, or a side database to the
// request's target. report receives progress about once a second.
//
//   - The whole shard in place: the shard's database is replaced by the
//     backup's tables, then archived binlogs are replayed into it. The
//     tablet stops serving meanwhile (Hooks.SetServing), and a restore
//     marker is stored so that later restores never replay older binlogs
//     across this one.
//   - Some tables, or a side database, to a backup: the tables' chunks are
//     loaded directly.
//   - Some tables, or a side database, to a moment or position past the
//     backup: the whole backup is restored into a scratch server, binlogs
//     are replayed there, and the chosen tables are copied out. Replaying
//     whole transactions keeps XA and multi-table transactions exact.
func (e *Engine) Restore(ctx context.Context, req *backuppb.RestoreRequest, report func(*backuppb.Progress)) error {
	p := newProgress("restore", e.m)
	end, err := e.begin(ctx, p)
	if err != nil {
		return err
	}
	stopReports := reportEvery(p, report)
	detail, err := e.restore(ctx, req, p)
	stopReports()
	end(detail, err)
	return err
}

// targetOf reads the request's target.
func targetOf(req *backuppb.RestoreRequest) (backupstore.Target, error) {
	t := backupstore.Target{Kind: backupstore.ToBackup, Backup: req.Backup}
	n := 0
	for _, set := range []bool{req.ToGtid != "", req.ToUnixNanos != 0, req.ToLatest} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return t, errors.New("give one of a GTID position, a time or the latest archived moment to restore to")
	case req.ToLatest:
		t.Kind = backupstore.ToLatest
	case req.ToGtid != "":
		pos, err := backupstore.ParsePosition(req.ToGtid)
		if err != nil {
			return t, err
		}
		t.Kind, t.GTID = backupstore.ToGTID, pos
	case req.ToUnixNanos != 0:
		t.Kind, t.Time = backupstore.ToTime, time.Unix(0, req.ToUnixNanos)
	}
	return t, nil
}

// plan lists the store and plans a restore to t.
func (e *Engine) plan(ctx context.Context, t backupstore.Target) (*backupstore.Plan, error) {
	backups, _, err := e.shard.ListBackups(ctx)
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
	plan, err := backupstore.PlanRestore(backups, binlogs, markers, t)
	if err != nil {
		return nil, fmt.Errorf("restore of %s/%s: %w", e.cfg.Keyspace, e.cfg.Shard, err)
	}
	return plan, nil
}

func (e *Engine) restore(ctx context.Context, req *backuppb.RestoreRequest, p *progress) (_ string, err error) {
	target, err := targetOf(req)
	if err != nil {
		return "", err
	}
	plan, err := e.plan(ctx, target)
	if err != nil {
		return "", err
	}
	m := plan.Backup
	db := e.cfg.Database
	if req.IntoDatabase != "" {
		db = req.IntoDatabase
	}
	tables, err := chooseTables(m, req.Tables)
	if err != nil {
		return "", err
	}
	log := e.log.With(zap.String("backup", m.Name), zap.Int("binlogs", len(plan.Binlogs)), zap.String("into", db))
	whole := len(req.Tables) == 0 && req.IntoDatabase == ""
	detail := fmt.Sprintf("backup %s and %d archived binlogs into %s", m.Name, len(plan.Binlogs), db)
	if whole {
		log.Info("restoring the whole shard in place")
		return detail, e.restoreInPlace(ctx, plan, p, false)
	}
	if m.Engine != "logical" {
		return "", fmt.Errorf("backup %s is %s: only logical backups restore single tables or into another database", m.Name, m.Engine)
	}
	if db == e.cfg.Database {
		// The shard's own tables change outside its binlog: binlogs from
		// before cannot be replayed across this.
		defer func() {
			if err == nil {
				err = e.putMarker(ctx, m.Name)
			}
		}()
	}
	p.setTotals(tablesBytes(tables), tablesRows(tables), len(tables))
	if len(plan.Binlogs) == 0 {
		log.Info("restoring tables from the backup", zap.Int("tables", len(tables)))
		p.setPhase("loading tables")
		return detail, e.loadTables(ctx, m, tables, e.cfg.MySQL, db, p)
	}
	log.Info("restoring tables through a scratch server", zap.Int("tables", len(tables)))
	p.setPhase("starting a scratch server")
	scratch, err := e.startScratch(ctx)
	if err != nil {
		return "", err
	}
	defer scratch.close()
	p.setTotals(m.RawBytes, m.Rows, len(m.Tables))
	p.setPhase("loading tables into the scratch server")
	if err := e.loadTables(ctx, m, m.Tables, scratch.srv, m.Database, p); err != nil {
		return "", err
	}
	if _, err := e.replay(ctx, plan, scratch.srv, p); err != nil {
		return "", err
	}
	p.setPhase("copying tables")
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.Name
	}
	return detail, e.copyTables(ctx, scratch.srv, m.Database, names, e.cfg.MySQL, db, p)
}

// chooseTables returns the backup's tables named (all when none is).
func chooseTables(m *backuppb.Manifest, names []string) ([]*backuppb.Table, error) {
	if len(names) == 0 {
		return m.Tables, nil
	}
	var out []*backuppb.Table
	for _, n := range names {
		i := slices.IndexFunc(m.Tables, func(t *backuppb.Table) bool { return t.Name == n })
		if i < 0 {
			return nil, fmt.Errorf("backup %s has no table %s", m.Name, n)
		}
		out = append(out, m.Tables[i])
	}
	return out, nil
}

func tablesBytes(ts []*backuppb.Table) (n int64) {
	for _, t := range ts {
		n += t.RawBytes
	}
	return n
}

func tablesRows(ts []*backuppb.Table) (n int64) {
	for _, t := range ts {
		n += t.Rows
	}
	return n
}

// restoreInPlace replaces the shard's database with the plan's backup and
// binlogs. fresh says the server is new (it has no history of its own):
// its binlog is then reset to continue from the restored position, so that
// the shard's GTIDs go on where the restored history ends.
func (e *Engine) restoreInPlace(ctx context.Context, plan *backupstore.Plan, p *progress, fresh bool) error {
	m := plan.Backup
	if e.Hooks.SetServing != nil {
		e.Hooks.SetServing(false, "restoring backup "+m.Name)
		defer e.Hooks.SetServing(true, "")
	}
	if m.Engine == "physical" {
		return e.physicalRestore(ctx, plan, p)
	}
	if fresh {
		// Nothing in the new server's binlog is worth keeping, and the
		// replay must not run into GTIDs it holds.
		if err := e.resetBinlog(ctx, m.GtidPosition); err != nil {
			return err
		}
	}
	p.setTotals(m.RawBytes, m.Rows, len(m.Tables))
	p.setPhase("dropping the shard's tables")
	if err := e.dropDatabaseObjects(ctx, e.cfg.Database); err != nil {
		return err
	}
	p.setPhase("loading tables")
	if err := e.loadTables(ctx, m, m.Tables, e.cfg.MySQL, e.cfg.Database, p); err != nil {
		return err
	}
	if err := e.createViews(ctx, m.Views, e.cfg.Database); err != nil {
		return err
	}
	end, err := e.replay(ctx, plan, e.cfg.MySQL, p)
	if err != nil {
		return err
	}
	return e.afterInPlace(ctx, plan, end, fresh)
}

// afterInPlace sets the server's GTID state after a whole-shard restore
// and records the restore in the store.
//
// A fresh server restored to the latest archived moment goes on with the
// archived history itself (its binlog continues from the archive's end), so
// later point-in-time restores may replay across it; a live shard restored
// in place diverges from its own binlog, so a marker is stored that stops
// replays across the restore.
func (e *Engine) afterInPlace(ctx context.Context, plan *backupstore.Plan, end backupstore.Position, fresh bool) error {
	if fresh {
		// The new server's own binlog holds nothing of the shard's history:
		// start it where the restored history ends.
		return e.resetBinlog(ctx, end.String())
	}
	return e.putMarker(ctx, plan.Backup.Name)
}

// putMarker records in the store that the shard's own tables were restored
// now from backup.
func (e *Engine) putMarker(ctx context.Context, backup string) error {
	db, err := e.cfg.MySQL.open("")
	if err != nil {
		return err
	}
	defer db.Close()
	var now string
	if err := db.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&now); err != nil {
		return err
	}
	return e.shard.PutRestoreMarker(ctx, &backuppb.RestoreMarker{
		RestoredUnixNanos: time.Now().UnixNano(), Backup: backup, TabletAlias: e.cfg.Alias, Position: now,
	})
}

// dropDatabaseObjects drops every table and view of db, keeping the
// database (and its grants).
func (e *Engine) dropDatabaseObjects(ctx context.Context, dbName string) error {
	db, err := e.cfg.MySQL.open("")
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := execAll(ctx, conn, append(sessionForLoad, "CREATE DATABASE IF NOT EXISTS "+quoteID(dbName))...); err != nil {
		return err
	}
	rows, err := conn.QueryContext(ctx, "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", dbName)
	if err != nil {
		return err
	}
	var drops []string
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			rows.Close()
			return err
		}
		kind := "TABLE"
		if typ == "VIEW" {
			kind = "VIEW"
		}
		drops = append(drops, "DROP "+kind+" IF EXISTS "+quoteID(dbName)+"."+quoteID(name))
	}
	rows.Close()
	return execAll(ctx, conn, drops...)
}

func (e *Engine) createViews(ctx context.Context, views []*backuppb.View, dbName string) error {
	if len(views) == 0 {
		return nil
	}
	db, err := e.cfg.MySQL.open(dbName)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := execAll(ctx, conn, sessionForLoad...); err != nil {
		return err
	}
	for _, v := range views {
		if err := execAll(ctx, conn, v.CreateSql); err != nil {
			return fmt.Errorf("view %s: %w", v.Name, err)
		}
	}
	return nil
}

// resetBinlog empties the server's binlog and starts its GTID state at pos.
func (e *Engine) resetBinlog(ctx context.Context, pos string) error {
	db, err := e.cfg.MySQL.open("")
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stmts := []string{"RESET MASTER", "SET GLOBAL gtid_slave_pos = " + quoteString(pos)}
	if pos != "" {
		stmts = append(stmts, "SET GLOBAL gtid_binlog_state = "+quoteString(pos))
	}
	if err := execAll(ctx, conn, stmts...); err != nil {
		return fmt.Errorf("reset the binlog to %s: %w", pos, err)
	}
	return nil
}
