package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
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

// The swap waits swapLockWait at a time for the transactions that use the
// tables to end, up to swapAttempts times: a RENAME waiting for a lock
// makes every later query of those tables wait behind it, so it gives way
// often rather than queue them for long.
const (
	swapLockWait = 2 * time.Second
	swapAttempts = 30
)

// checkSwappable refuses, before anything is loaded, tables a swap cannot
// move: triggers stay in the database they were made in, and foreign keys
// would point into the staging database.
func (e *Engine) checkSwappable(ctx context.Context, tables []string) error {
	pool, err := e.cfg.MySQL.open("")
	if err != nil {
		return err
	}
	defer pool.Close()
	db := e.cfg.Database
	for _, t := range tables {
		var triggers, keys int
		if err := pool.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.triggers WHERE event_object_schema = ? AND event_object_table = ?", db, t).Scan(&triggers); err != nil {
			return fmt.Errorf("look for triggers on %s: %w", t, err)
		}
		if err := pool.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.referential_constraints
			WHERE (constraint_schema = ? AND table_name = ?) OR (unique_constraint_schema = ? AND referenced_table_name = ?)`, db, t, db, t).Scan(&keys); err != nil {
			return fmt.Errorf("look for foreign keys of %s: %w", t, err)
		}
		if triggers > 0 || keys > 0 {
			return fmt.Errorf("table %s has %d triggers and %d foreign keys: a table restore in place swaps tables in with RENAME TABLE, which cannot carry them; restore it into another database (--into-database) and move the rows yourself", t, triggers, keys)
		}
	}
	return nil
}

func newStagingName() string {
	return stagingPrefix + strconv.FormatInt(time.Now().UnixNano(), 36)
}

// swapTables moves tables from database stage into the shard's database in
// one RENAME TABLE, the shard's tables of those names out of its way.
func (e *Engine) swapTables(ctx context.Context, stage string, tables []string) error {
	conn, done, err := e.cfg.MySQL.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	shardDB := e.cfg.Database
	names, err := queryStrings(ctx, conn, "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", shardDB)
	if err != nil {
		return fmt.Errorf("list the tables of %s: %w", shardDB, err)
	}
	existing := map[string]bool{}
	for _, name := range names {
		existing[name] = true
	}
	old := stage + "_old"
	var pairs []string
	for _, t := range tables {
		if existing[t] {
			pairs = append(pairs, quoteID(shardDB)+"."+quoteID(t)+" TO "+quoteID(old)+"."+quoteID(t))
		}
		pairs = append(pairs, quoteID(stage)+"."+quoteID(t)+" TO "+quoteID(shardDB)+"."+quoteID(t))
	}
	if err := execAll(ctx, conn,
		"SET SESSION sql_log_bin = 0",
		"SET SESSION lock_wait_timeout = "+strconv.Itoa(int(swapLockWait.Seconds())),
		"CREATE DATABASE IF NOT EXISTS "+quoteID(old)); err != nil {
		return err
	}
	rename := "RENAME TABLE " + strings.Join(pairs, ", ")
	for attempt := 1; ; attempt++ {
		err := execAll(ctx, conn, rename)
		var me *mysql.MySQLError
		if err == nil || !errors.As(err, &me) || me.Number != 1205 || attempt == swapAttempts {
			if err != nil && attempt == swapAttempts {
				return fmt.Errorf("swap the restored tables in: transactions kept them locked for %v: %w", swapAttempts*swapLockWait, err)
			}
			return err
		}
		e.log.Info("the restored tables wait for transactions that use them", zap.Int("attempt", attempt))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// dropStaging drops every staging database on the server: this restore's
// once it is done, and those a restore that died left.
func (e *Engine) dropStaging(ctx context.Context) error {
	conn, done, err := e.cfg.MySQL.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	names, err := queryStrings(ctx, conn, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?",
		strings.ReplaceAll(stagingPrefix, "_", `\_`)+"%")
	if err != nil {
		return fmt.Errorf("list staging databases: %w", err)
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

// queryStrings runs a query of one string column and returns its values.
func queryStrings(ctx context.Context, conn *sql.Conn, query string, args ...any) ([]string, error) {
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
