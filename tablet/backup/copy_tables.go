package backup

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/shardgate/shardgate/proto/backuppb"
)

// copyTables copies tables from database srcDB of server src into database
// dstDB of server dst (replacing tables of the same name), reading each in
// one pass and loading it in chunks of ChunkBytes.
func (e *Engine) copyTables(ctx context.Context, src MySQL, srcDB string, tables []string, dst MySQL, dstDB string, p *progress) error {
	from, err := src.open("")
	if err != nil {
		return err
	}
	defer from.Close()
	to, err := dst.open("")
	if err != nil {
		return err
	}
	defer to.Close()
	if err := createDatabase(ctx, to, dstDB); err != nil {
		return err
	}
	conn, err := to.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := execAll(ctx, conn, append(sessionForLoad, "USE "+quoteID(dstDB))...); err != nil {
		return err
	}
	for _, table := range tables {
		if err := e.copyTable(ctx, from, srcDB, table, conn, dstDB, p); err != nil {
			return fmt.Errorf("copy table %s into %s: %w", table, dstDB, err)
		}
		p.tableDone()
	}
	return nil
}

func (e *Engine) copyTable(ctx context.Context, from *sql.DB, srcDB, table string, to *sql.Conn, dstDB string, p *progress) error {
	create, err := showCreate(ctx, from, srcDB, table, "TABLE")
	if err != nil {
		return err
	}
	cols, err := tableColumns(ctx, from, srcDB, table)
	if err != nil {
		return err
	}
	if err := execAll(ctx, to, "DROP TABLE IF EXISTS "+quoteID(dstDB)+"."+quoteID(table), create); err != nil {
		return err
	}
	rows, err := from.QueryContext(ctx, "SELECT "+selectList(cols)+" FROM "+quoteID(srcDB)+"."+quoteID(table))
	if err != nil {
		return err
	}
	defer rows.Close()
	targets := loadTargets(cols)
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	values := make([][]byte, len(vals))
	buf := make([]byte, 0, e.cfg.ChunkBytes+64<<10)
	h := newRowHasher()
	var n, total int64
	var sum uint64
	load := func() error {
		got, err := loadRows(ctx, to, dstDB, table, targets, buf)
		if err != nil {
			return err
		}
		if got != n {
			return fmt.Errorf("loaded %d rows of %d", got, n)
		}
		p.add(int64(len(buf)), n)
		buf, n = buf[:0], 0
		return nil
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range vals {
			values[i] = v
		}
		sum += h.hash(values)
		total++
		buf = appendRow(buf, values)
		n++
		if len(buf) >= e.cfg.ChunkBytes {
			if err := load(); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := load(); err != nil {
		return err
	}
	// The copy must hold what was read, byte for byte.
	gotRows, gotSum, err := tableChecksum(ctx, to, dstDB, &backuppb.Table{Name: table, Columns: cols})
	if err != nil {
		return fmt.Errorf("read the copied rows back: %w", err)
	}
	if gotRows != total || gotSum != sum {
		return fmt.Errorf("the copy differs from the scratch server's table: %d rows, checksum %016x; read %d rows, checksum %016x", gotRows, gotSum, total, sum)
	}
	return nil
}
