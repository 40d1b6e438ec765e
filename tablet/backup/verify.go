package backup

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/shardgate/shardgate/internal/freeport"
	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/tablet/mysqld"
)

// Verify proves a backup restorable: it restores it into a scratch server
// and compares every table's row count and checksum with the manifest. A
// physical backup's manifest has no per-table figures: it is proven by
// its objects' checksums, a successful prepare, a server that starts on
// it, and every table of the shard's database read through.
func (e *Engine) Verify(ctx context.Context, name string, report func(*backuppb.Progress)) (*backuppb.VerifyResult, error) {
	p := newProgress("verify", e.m)
	end, err := e.begin(ctx, p)
	if err != nil {
		return nil, err
	}
	stopReports := reportEvery(p, report)
	res, err := e.verify(ctx, name, p)
	stopReports()
	detail := ""
	if res != nil {
		detail = fmt.Sprintf("backup %s: ok=%v, %d tables", name, res.Ok, len(res.Tables))
	}
	if err == nil && res != nil && !res.Ok {
		err = fmt.Errorf("backup %s does not match its manifest", name)
	}
	end(detail, err)
	return res, err
}

func (e *Engine) verify(ctx context.Context, name string, p *progress) (*backuppb.VerifyResult, error) {
	if name == "" {
		listing, err := e.shard.ListBackups(ctx)
		if err != nil {
			return nil, err
		}
		if len(listing.Complete) == 0 {
			return nil, fmt.Errorf("there is no complete backup of %s/%s", e.cfg.Keyspace, e.cfg.Shard)
		}
		name = listing.Complete[len(listing.Complete)-1].Name
	}
	m, err := e.shard.ReadManifest(ctx, name)
	if err != nil {
		return nil, err
	}
	p.setPhase("starting a scratch server")
	var srv MySQL
	if m.Engine == "physical" {
		dir, remove, err := e.newScratchDir()
		if err != nil {
			return nil, err
		}
		defer remove()
		cfg := mysqld.Config{DataDir: dir, ServerID: 4000000001, Log: e.log.Named("scratch")}
		if cfg.Port, err = freeport.Get(); err != nil {
			return nil, err
		}
		if e.cfg.Mysqld != nil {
			cfg.Binary = e.cfg.Mysqld.Binary
		}
		if err := e.unpackPhysical(ctx, m, cfg.ServerDataDir(), p); err != nil {
			return nil, err
		}
		sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		proc, err := mysqld.Start(sctx, cfg)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("start a server on the prepared backup: %w", err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = proc.Stop(sctx)
		}()
		srv = MySQL{Socket: cfg.SocketPath(), User: "root"}
	} else {
		scratch, err := e.startScratch(ctx)
		if err != nil {
			return nil, err
		}
		defer scratch.close()
		srv = scratch.srv
		p.setTotals(m.RawBytes, m.Rows, len(m.Tables))
		p.setPhase("loading tables into the scratch server")
		if err := e.loadTables(ctx, m, m.Tables, srv, m.Database, p, false); err != nil {
			return nil, err
		}
	}
	p.setPhase("comparing checksums")
	db, err := srv.open("")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	res := &backuppb.VerifyResult{Ok: true}
	tables := m.Tables
	if m.Engine == "physical" {
		infos, _, err := listTables(ctx, db, m.Database)
		if err != nil {
			return nil, err
		}
		tables = nil
		for _, ti := range infos {
			tables = append(tables, &backuppb.Table{Name: ti.name, Columns: ti.columns, Rows: -1})
		}
	}
	for _, t := range tables {
		rows, sum, err := tableChecksum(ctx, db, m.Database, t)
		if err != nil {
			return nil, fmt.Errorf("table %s in the scratch server: %w", t.Name, err)
		}
		check := &backuppb.TableCheck{Table: t.Name, RowsExpected: t.Rows, RowsFound: rows, ChecksumExpected: t.Checksum, ChecksumFound: sum}
		check.Ok = t.Rows < 0 || (rows == t.Rows && sum == t.Checksum)
		if t.Rows < 0 {
			check.RowsExpected, check.ChecksumExpected = rows, sum
		}
		res.Ok = res.Ok && check.Ok
		res.Tables = append(res.Tables, check)
	}
	return res, nil
}

// tableChecksum reads a table and returns its row count and checksum,
// computed as a backup computes them.
func tableChecksum(ctx context.Context, db querier, dbName string, t *backuppb.Table) (int64, uint64, error) {
	cols := t.Columns
	if len(cols) == 0 {
		var err error
		if cols, err = tableColumns(ctx, db, dbName, t.Name); err != nil {
			return 0, 0, err
		}
	}
	return checksumQuery(ctx, db, "SELECT "+selectList(cols)+" FROM "+quoteID(dbName)+"."+quoteID(t.Name), len(cols))
}

// TableChecksum returns the row count and checksum of dbName.table on srv,
// as a backup's manifest records them.
func TableChecksum(ctx context.Context, srv MySQL, dbName, table string) (int64, uint64, error) {
	db, err := srv.open("")
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	return tableChecksum(ctx, db, dbName, &backuppb.Table{Name: table})
}

func checksumQuery(ctx context.Context, db querier, query string, ncols int) (int64, uint64, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	vals := make([]sql.RawBytes, ncols)
	ptrs := make([]any, ncols)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	values := make([][]byte, ncols)
	h := newRowHasher()
	var n int64
	var sum uint64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, 0, err
		}
		for i, v := range vals {
			values[i] = v
		}
		sum += h.hash(values)
		n++
	}
	return n, sum, rows.Err()
}
