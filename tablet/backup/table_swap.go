package backup

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A restore of chosen tables into the shard's own database loads them
// into a staging database of the same server first, checks them there,
// and then swaps them in with one RENAME TABLE: MariaDB renames every
// pair or none, so clients see each table, and all the tables restored
// together, either as they were or as restored, never half loaded. The
// tables they replace go to a second staging database and are dropped.
// Staging databases are not written to the binlog, like the loads.

// stagingPrefix begins the names of staging databases; a restore drops
// those a restore that died left.
const stagingPrefix = "_shardgate_restore_"

// swapLockWait bounds how long the swap waits for transactions that use
// the tables to end.
const swapLockWait = 60 * time.Second

func newStagingName() string {
	return stagingPrefix + strconv.FormatInt(time.Now().UnixNano(), 36)
}

// swapTables moves tables from database stage into the shard's database in
// one RENAME TABLE, the shard's tables of those names out of its way.
func (e *Engine) swapTables(ctx context.Context, stage string, tables []string) error {
	pool, err := e.cfg.MySQL.open("")
	if err != nil {
		return err
	}
	defer pool.Close()
	conn, err := pool.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	shardDB := e.cfg.Database
	existing := map[string]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", shardDB)
	if err != nil {
		return fmt.Errorf("list the tables of %s: %w", shardDB, err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		existing[name] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	old := stage + "_old"
	var pairs []string
	for _, t := range tables {
		if existing[t] {
			pairs = append(pairs, quoteID(shardDB)+"."+quoteID(t)+" TO "+quoteID(old)+"."+quoteID(t))
		}
		pairs = append(pairs, quoteID(stage)+"."+quoteID(t)+" TO "+quoteID(shardDB)+"."+quoteID(t))
	}
	return execAll(ctx, conn,
		"SET SESSION sql_log_bin = 0",
		"SET SESSION lock_wait_timeout = "+strconv.Itoa(int(swapLockWait.Seconds())),
		"CREATE DATABASE IF NOT EXISTS "+quoteID(old),
		"RENAME TABLE "+strings.Join(pairs, ", "))
}

// dropStaging drops every staging database on the server: this restore's
// once it is done, and those a restore that died left.
func (e *Engine) dropStaging(ctx context.Context) error {
	pool, err := e.cfg.MySQL.open("")
	if err != nil {
		return err
	}
	defer pool.Close()
	conn, err := pool.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?",
		strings.ReplaceAll(stagingPrefix, "_", `\_`)+"%")
	if err != nil {
		return fmt.Errorf("list staging databases: %w", err)
	}
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		names = append(names, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	stmts := []string{"SET SESSION sql_log_bin = 0"}
	for _, name := range names {
		stmts = append(stmts, "DROP DATABASE IF EXISTS "+quoteID(name))
	}
	return execAll(ctx, conn, stmts...)
}

// createDatabase creates database db if it is not there, outside the
// binlog like the loads into it.
func createDatabase(ctx context.Context, pool *sql.DB, db string) error {
	conn, err := pool.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return execAll(ctx, conn, "SET SESSION sql_log_bin = 0", "CREATE DATABASE IF NOT EXISTS "+quoteID(db))
}
