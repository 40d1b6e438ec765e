package backup

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"

	"github.com/shardgate/shardgate/proto/backuppb"
)

// loadSQL is the LOAD DATA that reads one chunk (see tsv.go for the
// format). CHARACTER SET binary: the chunk holds the values' stored bytes,
// to be stored again without conversion.
const loadSQL = `LOAD DATA LOCAL INFILE '%s' INTO TABLE %s.%s CHARACTER SET binary
  FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n' %s`

// sessionForLoad are the settings of a connection that loads rows: the
// load is not written to the binlog (a restore is not a change to
// replicate or to archive), and checks that the rows passed when first
// written are skipped.
var sessionForLoad = []string{
	"SET SESSION sql_log_bin = 0",
	"SET SESSION foreign_key_checks = 0",
	"SET SESSION unique_checks = 0",
}

// loadTables creates tables in database db of the server srv (dropping
// ones of the same name) and loads their chunks from backup m, Workers
// tables at a time. Chunks are checked against their sha256 and their row
// counts against the manifest, and a load that draws a warning (a value
// the column does not take: LOAD DATA LOCAL makes errors warnings) fails.
// With check, each table's checksum, read back once it is loaded, must
// also equal the manifest's (Verify compares them itself, to report
// every table).
func (e *Engine) loadTables(ctx context.Context, m *backuppb.Manifest, tables []*backuppb.Table, srv MySQL, db string, p *progress, check bool) error {
	pool, err := srv.open("")
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := createDatabase(ctx, pool, db); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan *backuppb.Table)
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	fail := func(err error) { once.Do(func() { firstErr = err; cancel() }) }
	for i := 0; i < min(e.cfg.Workers, max(1, len(tables))); i++ {
		wg.Go(func() {
			conn, err := pool.Conn(ctx)
			if err != nil {
				fail(err)
				return
			}
			defer conn.Close()
			if err := execAll(ctx, conn, append(sessionForLoad, "USE "+quoteID(db))...); err != nil {
				fail(err)
				return
			}
			for t := range jobs {
				if err := e.loadTable(ctx, conn, m, t, db, p, check); err != nil {
					fail(fmt.Errorf("restore table %s into %s: %w", t.Name, db, err))
					continue
				}
				p.tableDone()
			}
		})
	}
	for _, t := range tables {
		select {
		case jobs <- t:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

type decodedChunk struct {
	c    *backuppb.Chunk
	data []byte
	err  error
}

func (e *Engine) loadTable(ctx context.Context, conn *sql.Conn, m *backuppb.Manifest, t *backuppb.Table, db string, p *progress, check bool) error {
	if err := execAll(ctx, conn, "DROP TABLE IF EXISTS "+quoteID(db)+"."+quoteID(t.Name), t.CreateSql); err != nil {
		return err
	}
	// Read and decompress the next chunk while this one loads.
	chunks := make(chan decodedChunk, 1)
	go func() {
		defer close(chunks)
		for _, c := range t.Chunks {
			data, err := e.shard.ReadChunk(ctx, m.Name, c)
			if err == nil {
				data, err = decoder.DecodeAll(data, make([]byte, 0, c.RawBytes))
			}
			select {
			case chunks <- decodedChunk{c: c, data: data, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	targets := loadTargets(t.Columns)
	for dc := range chunks {
		if dc.err != nil {
			return dc.err
		}
		n, err := loadRows(ctx, conn, db, t.Name, targets, dc.data)
		if err != nil {
			return fmt.Errorf("chunk %s: %w", dc.c.Key, err)
		}
		if n != dc.c.Rows {
			return fmt.Errorf("chunk %s: loaded %d rows, the manifest says %d", dc.c.Key, n, dc.c.Rows)
		}
		p.add(dc.c.RawBytes, dc.c.Rows)
	}
	if err := ctx.Err(); err != nil || !check {
		return err
	}
	rows, sum, err := tableChecksum(ctx, conn, db, t)
	if err != nil {
		return fmt.Errorf("read the loaded rows back: %w", err)
	}
	if rows != t.Rows || sum != t.Checksum {
		return fmt.Errorf("the loaded table differs from the backup: %d rows, checksum %016x; the manifest says %d rows, checksum %016x", rows, sum, t.Rows, t.Checksum)
	}
	return nil
}

// loadRows loads rows in chunk format into db.table with LOAD DATA LOCAL
// INFILE and returns how many went in. A warning is an error: with LOCAL
// the server turns a value the column cannot hold (truncated, converted,
// out of range) into a warning, and stores something else.
func loadRows(ctx context.Context, conn *sql.Conn, db, table, targets string, data []byte) (int64, error) {
	if len(data) == 0 {
		return 0, nil
	}
	file, done := loadReader(bytes.NewReader(data))
	defer done()
	res, err := conn.ExecContext(ctx, fmt.Sprintf(loadSQL, file, quoteID(db), quoteID(table), targets))
	if err != nil {
		return 0, err
	}
	if err := loadWarnings(ctx, conn); err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// loadWarnings returns an error that quotes the warnings of the statement
// conn ran last, if it drew any.
func loadWarnings(ctx context.Context, conn *sql.Conn) error {
	rows, err := conn.QueryContext(ctx, "SHOW WARNINGS LIMIT 5")
	if err != nil {
		return fmt.Errorf("SHOW WARNINGS: %w", err)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var level, message string
		var code int
		if err := rows.Scan(&level, &code, &message); err != nil {
			return err
		}
		if level == "Note" {
			continue
		}
		msgs = append(msgs, fmt.Sprintf("%s %d: %s", level, code, message))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(msgs) > 0 {
		return fmt.Errorf("the rows did not load as stored: %s", strings.Join(msgs, "; "))
	}
	return nil
}
