package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/shardgate/shardgate/localcluster"
)

// fencedWriter creates, on tab's MariaDB only (not binlogged), a user that
// may delete from table but holds no READ_ONLY ADMIN, as any application
// user or a gate's would, and returns a connection pool logged in as it:
// MariaDB's read_only fences it, not the tablet.
func fencedWriter(t *testing.T, ctx context.Context, tab localcluster.Tablet, table string) *sql.DB {
	t.Helper()
	root := openDB(t, tab.MySQLDSN())
	root.SetMaxOpenConns(1) // sql_log_bin is the session's
	for _, stmt := range []string{
		"SET SESSION sql_log_bin = 0",
		"CREATE USER IF NOT EXISTS 'fence_check'@'localhost' IDENTIFIED BY 'fence'",
		fmt.Sprintf("GRANT SELECT, DELETE ON `%s`.`%s` TO 'fence_check'@'localhost'", tab.Keyspace, table),
		"SET SESSION sql_log_bin = 1",
	} {
		if _, err := root.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s on %s: %v", stmt, tab.Alias, err)
		}
	}
	return openDB(t, fmt.Sprintf("fence_check:fence@unix(%s)/%s", tab.MySQLSocket(), tab.Keyspace))
}

// checkServerFence runs a DELETE that matches no row as db's user: MariaDB
// refuses it with 1290 (read_only) when fenced, and runs it otherwise.
func checkServerFence(t *testing.T, ctx context.Context, db *sql.DB, table string, fenced bool, where string) {
	t.Helper()
	_, err := db.ExecContext(ctx, fmt.Sprintf("DELETE FROM `%s` WHERE 1 = 0", table))
	var merr *mysql.MySQLError
	refused := errors.As(err, &merr) && merr.Number == 1290
	switch {
	case fenced && !refused:
		t.Errorf("%s: a user without READ_ONLY ADMIN wrote on MariaDB (err %v), want error 1290 (read_only)", where, err)
	case !fenced && err != nil:
		t.Errorf("%s: a user without READ_ONLY ADMIN cannot write on MariaDB: %v", where, err)
	}
}
