package backup

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/shardgate/shardgate/proto/backuppb"
)

// tableInfo is what a backup needs to know of a table before reading it.
type tableInfo struct {
	name      string
	createSQL string
	columns   []*backuppb.Column
	// estBytes and estRows are information_schema's estimates, for
	// progress.
	estBytes, estRows int64
}

// listTables returns the base tables of db (views apart) with their
// columns, in name order. q runs in the backup's snapshot transaction so
// that the definitions match the rows.
func listTables(ctx context.Context, q querier, db string) ([]*tableInfo, []*backuppb.View, error) {
	rows, err := q.QueryContext(ctx, `SELECT TABLE_NAME, TABLE_TYPE, COALESCE(DATA_LENGTH, 0), COALESCE(TABLE_ROWS, 0)
		FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME`, db)
	if err != nil {
		return nil, nil, fmt.Errorf("list the tables of %s: %w", db, err)
	}
	var tables []*tableInfo
	var viewNames []string
	for rows.Next() {
		var name, typ string
		var bytes, n int64
		if err := rows.Scan(&name, &typ, &bytes, &n); err != nil {
			rows.Close()
			return nil, nil, err
		}
		switch typ {
		case "BASE TABLE":
			tables = append(tables, &tableInfo{name: name, estBytes: bytes, estRows: n})
		case "VIEW":
			viewNames = append(viewNames, name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	for _, t := range tables {
		if t.createSQL, err = showCreate(ctx, q, db, t.name, "TABLE"); err != nil {
			return nil, nil, err
		}
		if t.columns, err = tableColumns(ctx, q, db, t.name); err != nil {
			return nil, nil, err
		}
	}
	var views []*backuppb.View
	for _, v := range viewNames {
		create, err := showCreate(ctx, q, db, v, "VIEW")
		if err != nil {
			return nil, nil, err
		}
		views = append(views, &backuppb.View{Name: v, CreateSql: create})
	}
	return tables, views, nil
}

type querier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

func showCreate(ctx context.Context, q querier, db, name, kind string) (string, error) {
	rows, err := q.QueryContext(ctx, "SHOW CREATE "+kind+" "+quoteID(db)+"."+quoteID(name))
	if err != nil {
		return "", fmt.Errorf("SHOW CREATE %s %s: %w", kind, name, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		return "", fmt.Errorf("SHOW CREATE %s %s: no row", kind, name)
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", err
	}
	return string(vals[1]), rows.Err()
}

// tableColumns lists the columns a backup stores: all but generated ones,
// which the server computes again on load.
func tableColumns(ctx context.Context, q querier, db, table string) ([]*backuppb.Column, error) {
	rows, err := q.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, IS_GENERATED FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, db, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	defer rows.Close()
	var cols []*backuppb.Column
	for rows.Next() {
		var name, typ, generated string
		if err := rows.Scan(&name, &typ, &generated); err != nil {
			return nil, err
		}
		if generated == "ALWAYS" {
			continue
		}
		c := &backuppb.Column{Name: name}
		switch strings.ToLower(typ) {
		case "bit":
			c.Kind = "bit"
		case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
			c.Kind = "geometry"
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// selectList is the SELECT list that reads a table's stored columns in
// the form chunks hold them.
func selectList(cols []*backuppb.Column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		switch c.Kind {
		case "bit":
			parts[i] = quoteID(c.Name) + "+0"
		case "geometry":
			parts[i] = "ST_AsWKB(" + quoteID(c.Name) + ")"
		default:
			parts[i] = quoteID(c.Name)
		}
	}
	return strings.Join(parts, ", ")
}

// loadTargets is the column list and SET clause of a LOAD DATA that reads
// chunks back into the columns.
func loadTargets(cols []*backuppb.Column) string {
	targets := make([]string, len(cols))
	var sets []string
	for i, c := range cols {
		switch c.Kind {
		case "bit":
			v := fmt.Sprintf("@v%d", i)
			targets[i] = v
			sets = append(sets, fmt.Sprintf("%s = CAST(%s AS UNSIGNED)", quoteID(c.Name), v))
		case "geometry":
			v := fmt.Sprintf("@v%d", i)
			targets[i] = v
			sets = append(sets, fmt.Sprintf("%s = ST_GeomFromWKB(%s)", quoteID(c.Name), v))
		default:
			targets[i] = quoteID(c.Name)
		}
	}
	s := "(" + strings.Join(targets, ", ") + ")"
	if len(sets) > 0 {
		s += " SET " + strings.Join(sets, ", ")
	}
	return s
}
