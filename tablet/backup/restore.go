package backup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/tablet/backupstore"
)

// Restore brings the shard, some of its tables, or a side database to the
// request's target. report receives progress about once a second.
//
//   - The whole shard in place: the server's current binlog is archived
//     first (a restore to the latest moment includes all written so far),
//     then the shard's database is replaced by the backup's tables and
//     archived binlogs are replayed into it. The tablet stops serving
//     meanwhile (Hooks.SetServing). Before the first destructive step a
//     restore marker is stored, so that later restores never replay older
//     binlogs across this one, and the restore is recorded as pending
//     (state.go): one that fails from then on leaves the tablet not
//     serving until a whole-shard restore succeeds.
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
		pos, err := gtidpos.Parse(req.ToGtid)
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
	listing, err := e.shard.ListBackups(ctx)
	if err != nil {
		return nil, err
	}
	binlogs, _, err := e.shard.ListBinlogs(ctx)
	if err != nil {
		return nil, err
	}
	markers, err := e.shard.ListRestoreMarkers(ctx)
	if err != nil {
		return nil, err
	}
	plan, err := backupstore.PlanRestore(listing.Complete, binlogs, markers, t)
	if err != nil {
		return nil, fmt.Errorf("restore of %s/%s: %w", e.cfg.Keyspace, e.cfg.Shard, err)
	}
	return plan, nil
}

func (e *Engine) restore(ctx context.Context, req *backuppb.RestoreRequest, p *progress) (string, error) {
	target, err := targetOf(req)
	if err != nil {
		return "", err
	}
	if len(req.Tables) == 0 && req.IntoDatabase == "" {
		return e.restoreShard(ctx, req, target, p)
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
	detail := fmt.Sprintf("backup %s and %d archived binlogs into %s", m.Name, len(plan.Binlogs), db)
	if m.Engine != "logical" {
		return "", fmt.Errorf("backup %s is %s: only logical backups restore single tables or into another database", m.Name, m.Engine)
	}
	// changing is called right before the shard's own tables change
	// outside its binlog: the marker is stored first, so that no later
	// replay crosses this moment, whether this restore succeeds or not.
	changing := func() error {
		if db != e.cfg.Database {
			return nil
		}
		if err := e.putMarker(ctx, m.Name); err != nil {
			return fmt.Errorf("record the restore in the store before changing the shard's tables: %w", err)
		}
		return nil
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.Name
	}
	// Into the shard's own database, tables load into a staging database
	// and are swapped in at the end (see table_swap.go).
	loadDB := db
	if db == e.cfg.Database {
		if err := e.checkSwappable(ctx, names); err != nil {
			return "", err
		}
		if err := e.dropStaging(ctx); err != nil {
			return "", err
		}
		loadDB = newStagingName()
		defer func() {
			if err := e.dropStaging(context.WithoutCancel(ctx)); err != nil {
				log.Warn("cannot drop the restore's staging database", zap.Error(err))
			}
		}()
	}
	swapIn := func() error {
		if loadDB == db {
			return nil
		}
		p.setPhase("swapping the tables in")
		if err := changing(); err != nil {
			return err
		}
		return e.swapTables(ctx, loadDB, names)
	}
	p.setTotals(tablesBytes(tables), tablesRows(tables), len(tables))
	if len(plan.Binlogs) == 0 {
		log.Info("restoring tables from the backup", zap.Int("tables", len(tables)))
		p.setPhase("loading tables")
		if err := e.loadTables(ctx, m, tables, e.cfg.MySQL, loadDB, p, true); err != nil {
			return "", err
		}
		return detail, swapIn()
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
	if err := e.loadTables(ctx, m, m.Tables, scratch.srv, m.Database, p, true); err != nil {
		return "", err
	}
	if _, err := e.replay(ctx, plan, scratch.srv, p); err != nil {
		return "", err
	}
	p.setPhase("copying tables")
	if err := e.copyTables(ctx, scratch.srv, m.Database, names, e.cfg.MySQL, loadDB, p); err != nil {
		return "", err
	}
	return detail, swapIn()
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

// restoreShard restores the whole shard in place, as an operator asked
// (or a restarted tablet resumes).
func (e *Engine) restoreShard(ctx context.Context, req *backuppb.RestoreRequest, target backupstore.Target, p *progress) (string, error) {
	// Archive what the server's binlog holds before planning: the latest
	// moment is what was written until now, and a physical restore drops
	// the server's files.
	p.setPhase("archiving the current binlog")
	if _, _, err := e.ArchiveBinlogs(ctx, true); err != nil {
		if target.Kind == backupstore.ToLatest {
			return "", fmt.Errorf("archive the server's current binlog before restoring to the latest moment: %w", err)
		}
		e.log.Warn("could not archive the current binlog before a restore", zap.Error(err))
	}
	plan, err := e.plan(ctx, target)
	if err != nil {
		return "", err
	}
	e.log.Info("restoring the whole shard in place", zap.String("backup", plan.Backup.Name), zap.Int("binlogs", len(plan.Binlogs)))
	detail := fmt.Sprintf("backup %s and %d archived binlogs into %s", plan.Backup.Name, len(plan.Binlogs), e.cfg.Database)
	return detail, e.restoreInPlace(ctx, plan, p, false, req)
}

// restoreInPlace replaces the shard's database with the plan's backup and
// binlogs. fresh says the server is new (the restore of a new server to
// the latest archived moment): it has no history of its own, so its binlog
// is reset to continue from the restored position and the shard's GTIDs go
// on where the archive ends. Otherwise (req is the operator's request) the
// server keeps its own binlog position, past everything archived, and a
// restore marker is stored: new transactions never reuse a GTID the
// archive holds.
//
// The tablet does not serve during the restore. A failure before the
// first destructive step changes nothing and it serves again; a failure
// after leaves the shard incomplete, recorded as a pending restore, and
// the tablet not serving, with the reason, until a restore succeeds.
func (e *Engine) restoreInPlace(ctx context.Context, plan *backupstore.Plan, p *progress, fresh bool, req *backuppb.RestoreRequest) (err error) {
	m := plan.Backup
	e.setServing(false, "restoring backup "+m.Name)
	changed := false
	changing := func() error {
		if !fresh {
			if err := e.putMarker(ctx, m.Name); err != nil {
				return fmt.Errorf("record the restore in the store before changing the shard: %w", err)
			}
		}
		if err := e.markPending(req, fresh); err != nil {
			return err
		}
		changed = true
		return nil
	}
	defer func() { err = e.finishInPlace(m.Name, changed, err) }()

	if m.Engine == "physical" {
		return e.physicalRestore(ctx, plan, p, fresh, changing)
	}
	if err := changing(); err != nil {
		return err
	}
	if fresh {
		// Nothing in the new server's binlog is worth keeping.
		if err := e.resetBinlog(ctx, m.GtidPosition); err != nil {
			return err
		}
	} else if err := e.rollbackPrepared(ctx); err != nil {
		return err
	}
	p.setTotals(m.RawBytes, m.Rows, len(m.Tables))
	p.setPhase("dropping the shard's tables")
	if err := e.dropDatabaseObjects(ctx, e.cfg.Database); err != nil {
		return err
	}
	p.setPhase("loading tables")
	if err := e.loadTables(ctx, m, m.Tables, e.cfg.MySQL, e.cfg.Database, p, true); err != nil {
		return err
	}
	if err := e.createViews(ctx, m.Views, e.cfg.Database); err != nil {
		return err
	}
	end, err := e.replay(ctx, plan, e.cfg.MySQL, p)
	if err != nil {
		return err
	}
	if fresh {
		// The new server's binlog starts where the restored history ends.
		return e.resetBinlog(ctx, end.String())
	}
	return nil
}

// finishInPlace decides, once a whole-shard restore in place ended with
// err, whether the tablet serves, and clears or updates the pending
// restore. It returns the restore's outcome.
func (e *Engine) finishInPlace(backup string, changed bool, err error) error {
	switch {
	case err == nil:
		if cerr := e.clearPending(); cerr != nil {
			// Left behind, the record would make the next start restore
			// again and lose what was written meanwhile.
			err = fmt.Errorf("the shard is restored, but the pending restore could not be cleared: %w; remove the file, then restart the tablet", cerr)
			e.setServing(false, err.Error())
			return err
		}
		e.setServing(true, "")
	case changed:
		e.notePendingFailure(err)
		e.setServing(false, fmt.Sprintf("restore failed: backup %s: %v; the shard is incomplete and serves again once a whole-shard restore succeeds", backup, err))
	default:
		// Nothing was changed: serve as before, unless an earlier restore
		// left the shard incomplete.
		if desc, pending := e.RestorePending(); pending {
			e.setServing(false, "restore failed: "+desc)
		} else {
			e.setServing(true, "")
		}
	}
	return err
}

// rollbackPrepared rolls back the XA branches prepared on the server
// before a whole-shard restore replaces its data: they belong to the state
// being replaced (their locks would stop the restore), and those prepared
// at the target are prepared again by the replay. Not binlogged, like the
// rest of the restore.
func (e *Engine) rollbackPrepared(ctx context.Context) error {
	conn, done, err := e.cfg.MySQL.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	xids, err := preparedXA(ctx, conn)
	if err != nil || len(xids) == 0 {
		return err
	}
	if err := execAll(ctx, conn, "SET SESSION sql_log_bin = 0"); err != nil {
		return err
	}
	for _, xid := range xids {
		e.log.Info("rolling back an XA transaction prepared on the server before replacing its data", zap.String("xid", xid))
		if err := execAll(ctx, conn, "XA ROLLBACK "+xid); err != nil {
			return err
		}
	}
	return nil
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
	conn, done, err := e.cfg.MySQL.session(ctx)
	if err != nil {
		return err
	}
	defer done()
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
	conn, done, err := e.cfg.MySQL.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	stmts := []string{"RESET MASTER", "SET GLOBAL gtid_slave_pos = " + quoteString(pos)}
	if pos != "" {
		stmts = append(stmts, "SET GLOBAL gtid_binlog_state = "+quoteString(pos))
	}
	if err := execAll(ctx, conn, stmts...); err != nil {
		return fmt.Errorf("reset the binlog to %s: %w", pos, err)
	}
	return nil
}
