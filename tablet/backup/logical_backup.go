package backup

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/internal/units"
	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/tablet/backupstore"
)

// Backup takes a backup of the shard with the engine ("logical" or
// "physical"; "" is logical) and publishes it by writing its manifest
// last. report receives progress about once a second and at the end.
func (e *Engine) Backup(ctx context.Context, engine string, report func(*backuppb.Progress)) (*backuppb.Manifest, error) {
	p := newProgress("backup", e.m)
	end, err := e.begin(ctx, p)
	if err != nil {
		return nil, err
	}
	stopReports := reportEvery(p, report)
	var m *backuppb.Manifest
	desc, pending := e.RestorePending()
	switch {
	case pending:
		// Restores start from the latest backup: one of an incomplete
		// shard would spread the damage.
		err = fmt.Errorf("the shard is incomplete, a restore of it has not succeeded (%s): restore it before backing it up", desc)
	case engine == "" || engine == "logical":
		m, err = e.logicalBackup(ctx, p)
	case engine == "physical":
		m, err = e.physicalBackup(ctx, p)
	default:
		err = fmt.Errorf("backup engine %q: use logical or physical", engine)
	}
	stopReports()
	detail := ""
	if m != nil {
		detail = fmt.Sprintf("%s: %d tables, %d rows, %s (%s stored), position %s", m.Name, len(m.Tables), m.Rows,
			units.Bytes(m.RawBytes), units.Bytes(m.StoredBytes), m.GtidPosition)
	}
	end(detail, err)
	return m, err
}

// reportEvery sends p to report every second until the returned function
// is called.
func reportEvery(p *progress, report func(*backuppb.Progress)) func() {
	if report == nil {
		return func() {}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				report(p.snapshot())
			}
		}
	}()
	return func() { close(stop); <-done }
}

func (e *Engine) newManifest(name, engine string, started time.Time) *backuppb.Manifest {
	return &backuppb.Manifest{
		Name: name, Keyspace: e.cfg.Keyspace, Shard: e.cfg.Shard, TabletAlias: e.cfg.Alias,
		Engine: engine, Database: e.cfg.Database, StartedUnixNanos: started.UnixNano(),
		ToolVersion: "shardtablet " + e.cfg.Version, Compression: "zstd",
	}
}

func (e *Engine) logicalBackup(ctx context.Context, p *progress) (*backuppb.Manifest, error) {
	started := time.Now()
	name := backupstore.BackupName(started, e.cfg.Alias)
	log := e.log.With(zap.String("backup", name))
	log.Info("backup starting", zap.String("engine", "logical"), zap.String("storage", e.store.URL()))

	db, err := e.cfg.MySQL.open("")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	// Start a new binlog file: the one before it can be archived now, and
	// point-in-time restores from this backup replay from the new one.
	if _, err := db.ExecContext(ctx, "FLUSH BINARY LOGS"); err != nil {
		return nil, fmt.Errorf("FLUSH BINARY LOGS: %w", err)
	}
	e.ArchiveSoon()

	p.setPhase("snapshot")
	snap, err := takeSnapshot(ctx, db, e.cfg.Workers)
	if err != nil {
		return nil, err
	}
	defer snap.close()
	m := e.newManifest(name, "logical", started)
	if m.PreparedXa, err = findPreparedGTIDs(ctx, db, snap.file, snap.prepared); err != nil {
		return nil, err
	}
	if len(m.PreparedXa) > 0 {
		log.Info("XA transactions are prepared at the snapshot: recorded for point-in-time restores", zap.Strings("xids", snap.prepared))
	}
	m.GtidPosition, m.BinlogFile, m.BinlogPosition = snap.gtid, snap.file, snap.pos
	m.SnapshotUnixNanos, m.MysqlVersion = snap.at.UnixNano(), snap.version

	tables, views, err := listTables(ctx, snap.conns[0], e.cfg.Database)
	if err != nil {
		return nil, err
	}
	m.Views = views
	var estBytes, estRows int64
	for _, t := range tables {
		estBytes += t.estBytes
		estRows += t.estRows
	}
	p.setTotals(estBytes, estRows, len(tables))
	p.setPhase("copying tables")
	log.Info("backup snapshot", zap.String("gtid_position", snap.gtid), zap.String("binlog", fmt.Sprintf("%s:%d", snap.file, snap.pos)),
		zap.Int("tables", len(tables)))

	// Largest tables first, so that the last to finish is a small one.
	order := make([]int, len(tables))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return tables[order[a]].estBytes > tables[order[b]].estBytes })
	results := make([]*backuppb.Table, len(tables))
	jobs := make(chan int)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	fail := func(err error) { errOnce.Do(func() { firstErr = err; cancel() }) }
	uploads := make(chan struct{}, 2*e.cfg.Workers) // chunks compressing or uploading at once
	for _, conn := range snap.conns {
		wg.Go(func() {
			for i := range jobs {
				t, err := e.dumpTable(ctx, conn, name, tables[i], p, uploads)
				if err != nil {
					fail(fmt.Errorf("table %s: %w", tables[i].name, err))
					continue
				}
				results[i] = t
				p.tableDone()
			}
		})
	}
	for _, i := range order {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, t := range results {
		m.Tables = append(m.Tables, t)
		m.Rows += t.Rows
		m.RawBytes += t.RawBytes
		m.StoredBytes += t.StoredBytes
	}
	p.setPhase("writing the manifest")
	m.FinishedUnixNanos = time.Now().UnixNano()
	if err := e.shard.WriteManifest(ctx, m); err != nil {
		return nil, err
	}
	return m, nil
}

// dumpTable reads one table in the snapshot on conn and stores it in
// chunks: rows are cut into a chunk every ChunkBytes, and each chunk is
// compressed and stored while the next one is read.
func (e *Engine) dumpTable(ctx context.Context, conn *sql.Conn, backup string, ti *tableInfo, p *progress, uploads chan struct{}) (*backuppb.Table, error) {
	t := &backuppb.Table{Name: ti.name, CreateSql: ti.createSQL, Columns: ti.columns}
	rows, err := conn.QueryContext(ctx, "SELECT "+selectList(ti.columns)+" FROM "+quoteID(e.cfg.Database)+"."+quoteID(ti.name))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		mu       sync.Mutex
		upErr    error
		inflight sync.WaitGroup
	)
	flush := func(n int, buf []byte, nrows int64, sum uint64) {
		uploads <- struct{}{}
		inflight.Go(func() {
			defer func() { <-uploads }()
			compressed := encoder.EncodeAll(buf, make([]byte, 0, len(buf)/3))
			c := &backuppb.Chunk{Key: backupstore.TableChunkKey(ti.name, n), Rows: nrows, RawBytes: int64(len(buf)),
				StoredBytes: int64(len(compressed)), Checksum: sum}
			sha, err := e.shard.PutChunk(ctx, backup, c.Key, compressed)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if upErr == nil {
					upErr = err
				}
				return
			}
			c.Sha256 = sha
			for len(t.Chunks) <= n {
				t.Chunks = append(t.Chunks, nil)
			}
			t.Chunks[n] = c
			p.add(int64(len(buf)), nrows)
		})
	}
	vals := make([]sql.RawBytes, len(ti.columns))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	values := make([][]byte, len(vals))
	h := newRowHasher()
	buf := make([]byte, 0, e.cfg.ChunkBytes+64<<10)
	var nrows int64
	var sum uint64
	chunk := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			values[i] = v
		}
		rh := h.hash(values)
		sum += rh
		t.Checksum += rh
		buf = appendRow(buf, values)
		nrows++
		t.Rows++
		if len(buf) >= e.cfg.ChunkBytes {
			flush(chunk, buf, nrows, sum)
			chunk++
			buf, nrows, sum = make([]byte, 0, e.cfg.ChunkBytes+64<<10), 0, 0
		}
		mu.Lock()
		failed := upErr
		mu.Unlock()
		if failed != nil {
			break
		}
	}
	if err := rows.Err(); err != nil {
		inflight.Wait()
		return nil, err
	}
	if nrows > 0 || chunk == 0 {
		flush(chunk, buf, nrows, sum)
	}
	inflight.Wait()
	if upErr != nil {
		return nil, upErr
	}
	for _, c := range t.Chunks {
		t.RawBytes += c.RawBytes
		t.StoredBytes += c.StoredBytes
	}
	return t, nil
}
