package integration

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/shardgate/shardgate/internal/freeport"

	"github.com/go-sql-driver/mysql"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
	"vitess.io/vitess/go/sqltypes"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/gateway/client"
	"github.com/shardgate/shardgate/localcluster"
	"github.com/shardgate/shardgate/vindex"
)

const diffVSchema = `{
  "sharded": true,
  "vindexes": {
    "hash": {"type": "hash"}, "xx": {"type": "xxhash"}, "loose": {"type": "unicode_loose_md5"},
    "note_id":     {"type": "lookup_unique", "params": {"table": "lk.note_id", "from": "id", "to": "keyspace_id"}, "owner": "note"},
    "item_cust":   {"type": "lookup", "params": {"table": "lk.item_cust", "from": "customer_id", "to": "keyspace_id"}, "owner": "item"},
    "orders_id":   {"type": "consistent_lookup_unique", "params": {"table": "lk.orders_id", "from": "id", "to": "keyspace_id"}, "owner": "orders"},
    "wo_id":       {"type": "lookup_unique", "params": {"table": "lk.wo_id", "from": "id", "to": "keyspace_id"}, "owner": "wo"},
    "wl_tag":      {"type": "consistent_lookup_unique", "params": {"table": "lk.wl_tag", "from": "tag", "to": "keyspace_id"}, "owner": "wl"},
    "wl_grp":      {"type": "consistent_lookup", "params": {"table": "lk.wl_grp", "from": "grp", "to": "keyspace_id", "ignore_nulls": "true"}, "owner": "wl"}
  },
  "tables": {
    "customer": {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "orders":   {"column_vindexes": [{"column": "customer_id", "name": "hash"}, {"column": "id", "name": "orders_id"}]},
    "product":  {"type": "reference"},
    "note":     {"column_vindexes": [{"column": "author", "name": "loose"}, {"column": "id", "name": "note_id"}]},
    "item":     {"column_vindexes": [{"column": "code", "name": "xx"}, {"column": "customer_id", "name": "item_cust"}]},
    "w":        {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "wo":       {"column_vindexes": [{"column": "w_id", "name": "hash"}, {"column": "id", "name": "wo_id"}]},
    "wl":       {"column_vindexes": [{"column": "id", "name": "hash"}, {"column": "tag", "name": "wl_tag"}, {"column": "grp", "name": "wl_grp"}]},
    "ws":       {"column_vindexes": [{"column": "id", "name": "hash"}], "auto_increment": {"column": "id", "sequence": "lk.ws_seq"}},
    "wc":       {"column_vindexes": [{"column": "w_id", "name": "hash"}]}
  }
}`

// lookupSchema holds the lookup tables, in an unsharded keyspace lk, in
// Vitess's layout: the value, and the keyspace id of the row holding it.
const lookupSchema = `
CREATE TABLE note_id (id BIGINT PRIMARY KEY, keyspace_id VARBINARY(64) NOT NULL);
CREATE TABLE item_cust (customer_id BIGINT, keyspace_id VARBINARY(64), PRIMARY KEY (customer_id, keyspace_id));
CREATE TABLE orders_id (id BIGINT PRIMARY KEY, keyspace_id VARBINARY(64) NOT NULL);
CREATE TABLE wo_id (id BIGINT PRIMARY KEY, keyspace_id VARBINARY(64) NOT NULL);
CREATE TABLE wl_tag (tag VARCHAR(32) PRIMARY KEY, keyspace_id VARBINARY(64) NOT NULL);
CREATE TABLE wl_grp (grp INT, keyspace_id VARBINARY(64), PRIMARY KEY (grp, keyspace_id));
CREATE TABLE ws_seq (id INT PRIMARY KEY, next_id BIGINT NOT NULL, cache BIGINT NOT NULL);
INSERT INTO ws_seq (id, next_id, cache) VALUES (0, 1, 1000);
`

const lookupVSchema = `{"tables": {"note_id": {}, "item_cust": {}, "orders_id": {}, "wo_id": {}, "wl_tag": {}, "wl_grp": {}, "ws_seq": {"type": "sequence"}}}`

const diffSchema = `
CREATE TABLE customer (
  id BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL, email VARCHAR(128), country CHAR(2),
  balance DECIMAL(12,2), score DOUBLE, born DATE, created DATETIME, active TINYINT NOT NULL, note TEXT
) DEFAULT CHARSET=utf8mb4;
CREATE TABLE orders (
  id BIGINT NOT NULL, customer_id BIGINT NOT NULL, amount DECIMAL(10,2) NOT NULL, qty INT NOT NULL,
  status VARCHAR(16) NOT NULL, placed DATETIME NOT NULL, PRIMARY KEY (customer_id, id)
) DEFAULT CHARSET=utf8mb4;
CREATE TABLE product (
  id INT PRIMARY KEY, sku VARCHAR(16) NOT NULL, title VARCHAR(64), price DECIMAL(8,2), kind ENUM('tool','toy','food')
) DEFAULT CHARSET=utf8mb4;
CREATE TABLE note (
  id BIGINT PRIMARY KEY, author VARCHAR(32) NOT NULL, customer_id BIGINT, body TEXT, day DATE, stars TINYINT
) DEFAULT CHARSET=utf8mb4;
CREATE TABLE item (
  id BIGINT PRIMARY KEY, code VARCHAR(16) NOT NULL, product_id INT, customer_id BIGINT, weight DOUBLE, added DATETIME(3)
) DEFAULT CHARSET=utf8mb4;
CREATE TABLE w (id BIGINT PRIMARY KEY, name VARCHAR(32), n INT) DEFAULT CHARSET=utf8mb4;
CREATE TABLE wo (id BIGINT NOT NULL, w_id BIGINT NOT NULL, qty INT, PRIMARY KEY (w_id, id), UNIQUE KEY (id)) DEFAULT CHARSET=utf8mb4;
CREATE TABLE wl (id BIGINT PRIMARY KEY, tag VARCHAR(32), grp INT, UNIQUE KEY (tag)) DEFAULT CHARSET=utf8mb4;
CREATE TABLE ws (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(32)) DEFAULT CHARSET=utf8mb4;
CREATE TABLE wc (id BIGINT PRIMARY KEY, w_id BIGINT NOT NULL, note VARCHAR(32)) DEFAULT CHARSET=utf8mb4;
`

// TestDifferential loads the same data into one plain MariaDB and into a
// 4-shard cluster and expects the same answer from both to every query in
// testdata/differential.sql.
func TestDifferential(t *testing.T) {
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	cfg := localcluster.Config{
		DataDir: t.TempDir(),
		BinDir:  binDir,
		Keyspaces: []localcluster.KeyspaceSpec{
			{Name: "ks", ShardCount: 4, VSchema: []byte(diffVSchema), Schema: []byte(diffSchema)},
			{Name: "lk", VSchema: []byte(lookupVSchema), Schema: []byte(lookupSchema)},
		},
	}
	base, err := localcluster.FreeBasePort(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.BasePort = base
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := localcluster.Up(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	gate := openDB(t, c.GateDSN("ks"))

	ref := startReference(t, freePort(t))
	for _, stmt := range strings.Split(diffSchema, ";") {
		if strings.TrimSpace(stmt) != "" {
			if _, err := ref.Exec(stmt); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, stmt := range generateData() {
		for _, db := range []*sql.DB{ref, gate} {
			if _, err := db.Exec(stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}

	queries := readQueries(t, "testdata/differential.sql")
	// Queries run on one connection of each, so that a line of several
	// statements (separated by " ;; ") shares a session: the answer to
	// the last one is compared. The gate answers each twice: on its MySQL
	// port (go-sql-driver/mysql), compared with the reference, and on its
	// gRPC port (this repository's driver), compared with the MySQL port's
	// answer in every detail database/sql shows: column types, scan types,
	// nullability, precision and scale, raw bytes, and the Go types values
	// scan into.
	drv := openDriver(t, grpcDSN(c, "ks", ""))
	refQ, gateQ, drvQ := singleConn(t, ref), singleConn(t, gate), singleConn(t, drv)
	for _, q := range queries {
		if refused, ok := strings.CutPrefix(q, "%"); ok {
			for _, conn := range []*sql.Conn{gateQ, drvQ} {
				_, err := conn.ExecContext(ctx, strings.TrimSpace(refused))
				if code, _ := errorCode(err); code != 1235 {
					t.Errorf("%s\n gate: %v, want it refused with error 1235", refused, err)
				}
			}
			continue
		}
		fold := strings.HasPrefix(q, "~")
		line := strings.TrimSpace(strings.TrimPrefix(q, "~"))
		columnsOnly := strings.HasPrefix(line, "^")
		line = strings.TrimSpace(strings.TrimPrefix(line, "^"))
		var args []any
		if spec, rest, ok := strings.Cut(line, " | "); ok && strings.HasPrefix(spec, "?") {
			args, line = queryArgs(t, strings.TrimPrefix(spec, "?")), rest
		}
		stmts := strings.Split(line, " ;; ")
		for _, first := range stmts[:len(stmts)-1] {
			for _, conn := range []*sql.Conn{refQ, gateQ, drvQ} {
				rows, err := conn.QueryContext(ctx, first)
				if err != nil {
					t.Fatalf("%s: %v", first, err)
				}
				rows.Close()
			}
		}
		q = stmts[len(stmts)-1]
		ordered := hasTopLevelOrderBy(t, q)
		want := resultOf(t, refQ, q, ordered, fold, args...)
		got := resultOf(t, gateQ, q, ordered, fold, args...)
		if columnsOnly {
			want, got = columnsOf(want), columnsOf(got)
		}
		if got != want {
			t.Errorf("%s\n gate:      %s\n reference: %s", line, clip(got), clip(want))
		}
		prefix := stmts[:len(stmts)-1]
		viaMySQL, viaDriver := detailedResultOf(t, gateQ, prefix, q, ordered, args...), detailedResultOf(t, drvQ, prefix, q, ordered, args...)
		if columnsOnly {
			viaMySQL, viaDriver = columnsOf(viaMySQL), columnsOf(viaDriver)
			// What the drivers tell of the columns (nullability, scan
			// types) must be MariaDB's too.
			if viaRef := columnsOf(detailedResultOf(t, refQ, prefix, q, ordered, args...)); viaMySQL != viaRef {
				t.Errorf("%s\n gate columns:      %s\n reference columns: %s", line, viaMySQL, viaRef)
			}
		}
		if viaDriver != viaMySQL {
			t.Errorf("%s\n gRPC driver: %s\n MySQL port:  %s", line, clip(viaDriver), clip(viaMySQL))
		}
	}
	t.Logf("%d queries compared", len(queries))

	// The write scenarios run twice: through the MySQL port, then through
	// the gRPC driver, each time against the reference.
	scenarios := readScenarios(t, "testdata/writes.sql")
	runScenarios(t, ctx, scenarios, refQ, gateQ, "MySQL port")
	// The second pass starts from the auto-increment state the first did:
	// the reference's counter, and the gate's sequence, whose reserved
	// block lives in the gate's memory (the gate restarts; the driver's
	// session, held by the client, carries on).
	for _, stmt := range []string{"delete from ws", "alter table ws auto_increment = 1"} {
		if _, err := refQ.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("reference: %s: %v", stmt, err)
		}
	}
	for _, stmt := range []string{"delete from ws", "update lk.ws_seq set next_id = 1 where id = 0"} {
		if _, err := gateQ.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("gate: %s: %v", stmt, err)
		}
	}
	if err := c.RestartGate(ctx); err != nil {
		t.Fatal(err)
	}
	runScenarios(t, ctx, scenarios, refQ, drvQ, "gRPC driver")
	checkLookups(t, drvQ, "after the scenarios")
	t.Logf("%d write scenarios compared, through each port", len(scenarios))
}

// runScenarios runs the write scenarios on the reference and through one
// of the gate's ports, and compares the tables after each.
func runScenarios(t *testing.T, ctx context.Context, scenarios [][]string, refConn, gateConn *sql.Conn, port string) {
	t.Helper()
	for i, sc := range scenarios {
		for _, conn := range []*sql.Conn{refConn, gateConn} {
			for _, reset := range []string{"delete from wo", "delete from w", "delete from wl", "delete from ws", "delete from wc"} {
				if _, err := conn.ExecContext(ctx, reset); err != nil {
					t.Fatalf("scenario %d: %s: %v", i+1, reset, err)
				}
			}
		}
		for _, stmt := range sc {
			if refused, ok := strings.CutPrefix(stmt, "%"); ok {
				_, err := gateConn.ExecContext(ctx, refused)
				if code, _ := errorCode(err); code != 1235 && code != 1364 {
					t.Fatalf("%s, scenario %d: %s: got %v, want the gate to refuse it (1235 or 1364)", port, i+1, refused, err)
				}
				continue
			}
			if compared, inOrder := answerCompared(stmt); compared != "" {
				var args []any
				if spec, rest, ok := strings.Cut(compared, " | "); ok && strings.HasPrefix(spec, "?") {
					args, compared = queryArgs(t, strings.TrimPrefix(spec, "?")), rest
				}
				answer := func(conn *sql.Conn) string {
					if !strings.Contains(strings.ToLower(compared), "returning") {
						return affectedRows(ctx, conn, compared, args...)
					}
					return resultOf(t, conn, compared, inOrder, false, args...)
				}
				want, got := answer(refConn), answer(gateConn)
				if got != want {
					t.Errorf("%s, scenario %d: %s\n gate:      %s\n reference: %s", port, i+1, compared, clip(got), clip(want))
				}
				continue
			}
			wantErr := strings.HasPrefix(stmt, "!")
			stmt = strings.TrimPrefix(stmt, "!")
			_, refErr := refConn.ExecContext(ctx, stmt)
			_, gateErr := gateConn.ExecContext(ctx, stmt)
			if (refErr != nil) != wantErr || (gateErr != nil) != wantErr {
				t.Fatalf("%s, scenario %d: %s\n reference error: %v\n gate error: %v\n (expected an error: %v)", port, i+1, stmt, refErr, gateErr, wantErr)
			}
		}
		for _, q := range []string{"select * from w order by id", "select * from wo order by w_id, id", "select * from wl order by id", "select * from ws order by id", "select * from wc order by id"} {
			want := resultOf(t, refConn, q, true, false)
			got := resultOf(t, gateConn, q, true, false)
			if got != want {
				t.Errorf("%s, scenario %d (%s):\n gate:      %s\n reference: %s", port, i+1, strings.Join(sc, "; "), clip(got), clip(want))
			}
		}
		checkLookups(t, gateConn, fmt.Sprintf("%s, scenario %d", port, i+1))
	}
}

// affectedRows renders what a write without a result answers: its
// affected rows, or its error.
func affectedRows(ctx context.Context, conn *sql.Conn, stmt string, args ...any) string {
	res, err := conn.ExecContext(ctx, stmt, args...)
	if err != nil {
		return errorText(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return errorText(err)
	}
	return fmt.Sprintf("%d rows affected", n)
}

// answerCompared reads a scenario statement whose answer (rows, columns
// or error) is compared too: "= stmt" in order, "=* stmt" in any order.
// Either may be "? ARGS | stmt", run prepared with those parameters.
func answerCompared(line string) (stmt string, inOrder bool) {
	if rest, ok := strings.CutPrefix(line, "=*"); ok {
		return strings.TrimSpace(rest), false
	}
	if rest, ok := strings.CutPrefix(line, "="); ok {
		return strings.TrimSpace(rest), true
	}
	return "", false
}

// singleConn pins one connection, so that transactions and session
// settings of a scenario stay on it.
func singleConn(t *testing.T, db *sql.DB) *sql.Conn {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// readScenarios reads blank-line separated groups of statements.
func readScenarios(t *testing.T, path string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, block := range strings.Split(string(data), "\n\n") {
		var stmts []string
		for _, line := range strings.Split(block, "\n") {
			line = strings.TrimSpace(line)
			if line != "" && !strings.HasPrefix(line, "#") {
				stmts = append(stmts, line)
			}
		}
		if len(stmts) > 0 {
			out = append(out, stmts)
		}
	}
	return out
}

// freePort returns a port nothing listens on now (another test process
// may still take it before we do, which the start reports).
// freePort is a port for a server the test starts (see internal/freeport:
// not one the kernel may give an outgoing connection meanwhile).
func freePort(t *testing.T) int {
	t.Helper()
	port, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// startReference runs the plain MariaDB the cluster is compared with.
func startReference(t *testing.T, port int) *sql.DB {
	t.Helper()
	cfg := startMySQLD(t, port, 99)
	db := openDB(t, cfg.DSN("ks"))
	db.SetMaxOpenConns(1)
	return db
}

// generateData returns deterministic INSERTs with the awkward values real
// data has: unicode names that differ only in case or accents, NULLs,
// negative decimals, dates.
func generateData() []string {
	r := rand.New(rand.NewPCG(1, 2))
	names := []string{"Ann", "ann", "Ånn", "Bob", "bob", "Zoë", "zoe", "Émile", "emile", "Łukasz", "Ünal", "李", "Ørjan", "o'brien"}
	countries := []string{"se", "de", "fr", "us", "SE", ""}
	statuses := []string{"paid", "shipped", "new", "cancelled"}
	var rows []string
	for i := 0; i < 300; i++ {
		id := int64(i) - 5 // a few negative ids
		email := "NULL"
		if r.IntN(5) != 0 {
			email = fmt.Sprintf("'user%d@example.com'", i%97)
		}
		country := "NULL"
		if r.IntN(7) != 0 {
			country = "'" + countries[r.IntN(len(countries))] + "'"
		}
		balance := "NULL"
		if r.IntN(9) != 0 {
			balance = fmt.Sprintf("%d.%02d", r.IntN(20000)-8000, r.IntN(100))
		}
		note := "NULL"
		if r.IntN(3) == 0 {
			note = fmt.Sprintf("'note ü %d'", r.IntN(50))
		}
		rows = append(rows, fmt.Sprintf(
			"INSERT INTO customer (id, name, email, country, balance, score, born, created, active, note) VALUES (%d, '%s', %s, %s, %s, %d.5, '19%02d-%02d-%02d', '2024-%02d-%02d %02d:%02d:00', %d, %s)",
			id, strings.ReplaceAll(names[r.IntN(len(names))], "'", "''"), email, country, balance, r.IntN(1000), 50+r.IntN(50), 1+r.IntN(12), 1+r.IntN(28),
			1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(2), note))
	}
	for i := 0; i < 1000; i++ {
		rows = append(rows, fmt.Sprintf(
			"INSERT INTO orders (id, customer_id, amount, qty, status, placed) VALUES (%d, %d, %d.%02d, %d, '%s', '2025-%02d-%02d 10:00:00')",
			i, r.IntN(300)-5, r.IntN(500), r.IntN(100), 1+r.IntN(9), statuses[r.IntN(len(statuses))], 1+r.IntN(12), 1+r.IntN(28)))
	}
	kinds := []string{"'tool'", "'toy'", "'food'", "NULL"}
	for i := 1; i <= 40; i++ {
		title := "NULL"
		if r.IntN(6) != 0 {
			title = "'" + strings.ReplaceAll(names[r.IntN(len(names))], "'", "''") + fmt.Sprintf(" %d'", i%7)
		}
		rows = append(rows, fmt.Sprintf("INSERT INTO product (id, sku, title, price, kind) VALUES (%d, 'sku-%02d', %s, %d.%02d, %s)",
			i, i%25, title, r.IntN(200), r.IntN(100), kinds[r.IntN(len(kinds))]))
	}
	for i := 1; i <= 400; i++ {
		cust := "NULL"
		if r.IntN(8) != 0 {
			cust = fmt.Sprint(r.IntN(320) - 10)
		}
		stars := "NULL"
		if r.IntN(4) != 0 {
			stars = fmt.Sprint(r.IntN(6))
		}
		rows = append(rows, fmt.Sprintf("INSERT INTO note (id, author, customer_id, body, day, stars) VALUES (%d, '%s', %s, 'body %d ✓', '2025-%02d-%02d', %s)",
			i, strings.ReplaceAll(names[r.IntN(len(names))], "'", "''"), cust, r.IntN(30), 1+r.IntN(12), 1+r.IntN(28), stars))
	}
	for i := 1; i <= 500; i++ {
		prod := "NULL"
		if r.IntN(10) != 0 {
			prod = fmt.Sprint(1 + r.IntN(45))
		}
		rows = append(rows, fmt.Sprintf("INSERT INTO item (id, code, product_id, customer_id, weight, added) VALUES (%d, 'c%d', %s, %d, %d.%d, '2025-03-%02d 08:%02d:%02d.%03d')",
			i, r.IntN(150), prod, r.IntN(300)-5, r.IntN(50), r.IntN(10), 1+r.IntN(28), r.IntN(60), r.IntN(60), r.IntN(1000)))
	}
	return rows
}

func readQueries(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

func hasTopLevelOrderBy(t *testing.T, q string) bool {
	stmt, err := sqlparser.NewTestParser().Parse(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	switch s := stmt.(type) {
	case *sqlparser.Select:
		return len(s.OrderBy) > 0
	case *sqlparser.Union:
		return len(s.OrderBy) > 0
	}
	return false
}

// resultOf renders a query's answer (columns, types, values) or its error;
// without ORDER BY the rows are sorted so that order does not count.
// querier is a *sql.DB or a pinned *sql.Conn.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func resultOf(t *testing.T, db querier, q string, ordered, fold bool, args ...any) string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), q, args...)
	if err != nil {
		return errorText(err)
	}
	defer rows.Close()
	cols, _ := rows.ColumnTypes()
	var head strings.Builder
	for _, c := range cols {
		fmt.Fprintf(&head, "%s:%s ", c.Name(), c.DatabaseTypeName())
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var lines []string
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return errorText(err)
		}
		var b strings.Builder
		for i, v := range vals {
			if v == nil {
				b.WriteString("NULL|")
			} else if t := cols[i].DatabaseTypeName(); t == "DOUBLE" || t == "FLOAT" {
				// Sums of floating point numbers depend on the order they
				// are added in, on one server too: compare 12 digits.
				f, err := strconv.ParseFloat(string(v), 64)
				if err != nil {
					b.WriteString(string(v) + "|")
				} else {
					b.WriteString(strconv.FormatFloat(f, 'g', 12, 64) + "|")
				}
			} else if fold {
				b.WriteString(foldText(string(v)) + "|")
			} else {
				b.WriteString(string(v) + "|")
			}
		}
		lines = append(lines, b.String())
	}
	if err := rows.Err(); err != nil {
		return errorText(err)
	}
	if !ordered {
		slices.Sort(lines)
	}
	return fmt.Sprintf("%s(%d rows) %s", head.String(), len(lines), strings.Join(lines, " ; "))
}

// detailedResultOf runs prefix, then q, and renders all that
// database/sql tells of q's answer: for each column its name, database type, scan type,
// nullability, precision and scale; for each value its raw bytes, and
// the Go type and value it scans into when the destination is an any
// (what the driver itself returned). Rows are sorted unless ordered.
func detailedResultOf(t *testing.T, db querier, prefix []string, q string, ordered bool, args ...any) string {
	t.Helper()
	raw := func(rows *sql.Rows, n int) (string, error) {
		vals := make([]sql.RawBytes, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "", err
		}
		var b strings.Builder
		for _, v := range vals {
			if v == nil {
				b.WriteString("NULL|")
			} else {
				fmt.Fprintf(&b, "%q|", []byte(v))
			}
		}
		return b.String(), nil
	}
	typed := func(rows *sql.Rows, n int) (string, error) {
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "", err
		}
		var b strings.Builder
		for _, v := range vals {
			if bs, ok := v.([]byte); ok {
				fmt.Fprintf(&b, "[]byte %q|", bs)
			} else {
				fmt.Fprintf(&b, "%T %v|", v, v)
			}
		}
		return b.String(), nil
	}
	var out []string
	for _, render := range []func(*sql.Rows, int) (string, error){raw, typed} {
		// The statements before q set the session up for it anew (a
		// FOUND_ROWS() answers for the statement before it).
		for _, p := range prefix {
			rows, err := db.QueryContext(context.Background(), p)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			rows.Close()
		}
		rows, err := db.QueryContext(context.Background(), q, args...)
		if err != nil {
			return errorText(err)
		}
		cols, err := rows.ColumnTypes()
		if err != nil {
			rows.Close()
			return errorText(err)
		}
		var head strings.Builder
		for _, c := range cols {
			nullable, _ := c.Nullable()
			precision, scale, ok := c.DecimalSize()
			fmt.Fprintf(&head, "%s:%s:%v:null=%v:%d,%d,%v ", c.Name(), c.DatabaseTypeName(), c.ScanType(), nullable, precision, scale, ok)
		}
		var lines []string
		for rows.Next() {
			line, err := render(rows, len(cols))
			if err != nil {
				rows.Close()
				return errorText(err)
			}
			lines = append(lines, line)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return errorText(err)
		}
		if !ordered {
			slices.Sort(lines)
		}
		out = append(out, fmt.Sprintf("%s(%d rows) %s", head.String(), len(lines), strings.Join(lines, " ; ")))
	}
	return strings.Join(out, "\n   as any: ")
}

// queryArgs reads a query's parameters, each typed by a prefix:
// i:-1 (int64), u:1 (uint64), f:2.5 (float64), s:10 (string, up to the
// next blank; s: alone is the empty string), n (NULL). go-sql-driver
// sends them in the binary protocol's types (BIGINT, DOUBLE, string),
// as drivers of other languages do.
func queryArgs(t *testing.T, spec string) []any {
	t.Helper()
	var args []any
	for _, a := range strings.Fields(spec) {
		typ, v, _ := strings.Cut(a, ":")
		var arg any
		var err error
		switch typ {
		case "i":
			arg, err = strconv.ParseInt(v, 10, 64)
		case "u":
			arg, err = strconv.ParseUint(v, 10, 64)
		case "f":
			arg, err = strconv.ParseFloat(v, 64)
		case "s":
			arg = v
		case "n":
			arg = nil
		default:
			t.Fatalf("parameter %q: want i:, u:, f:, s: or n", a)
		}
		if err != nil {
			t.Fatalf("parameter %q: %v", a, err)
		}
		args = append(args, arg)
	}
	return args
}

// columnsOf keeps the columns of a rendered result (or its error): for
// answers whose rows differ by design, like EXPLAIN's row estimates.
func columnsOf(rendered string) string {
	if loc := rowCount.FindStringIndex(rendered); loc != nil {
		return rendered[:loc[0]]
	}
	return rendered
}

var rowCount = regexp.MustCompile(`\(\d+ rows\)`)

// errorCode returns the MySQL error number of an error from either
// driver.
func errorCode(err error) (int, bool) {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return int(me.Number), true
	}
	var se *client.Error
	if errors.As(err, &se) {
		return int(se.Num), true
	}
	return 0, false
}

// errorText renders an error from either driver the same way: its code,
// SQLSTATE and message.
func errorText(err error) string {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return fmt.Sprintf("error %d (%s): %s", me.Number, string(me.SQLState[:]), me.Message)
	}
	var se *client.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("error %d (%s): %s", se.Num, se.State, se.Message)
	}
	return "error: " + err.Error()
}

// foldText lower-cases and strips accents, approximating equality under
// utf8mb4_general_ci for the test's data.
func foldText(s string) string {
	folded, _, err := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), s)
	if err != nil {
		return strings.ToLower(s)
	}
	return strings.ToLower(folded)
}

func clip(s string) string {
	if len(s) > 600 {
		return s[:600] + "..."
	}
	return s
}

// checkLookups checks the lookup tables against their owners' rows: every
// row of an owner has its lookup row, pointing at the row's keyspace id;
// lookup_unique and lookup tables have no other rows (consistent lookups
// may keep rows whose owner row is gone: they only cost a query).
func checkLookups(t *testing.T, gate *sql.Conn, when string) {
	t.Helper()
	hash, err := vindex.Create("hash", "hash", nil)
	if err != nil {
		t.Fatal(err)
	}
	ksid := func(id int64) string {
		k, err := hash.(vindex.Hasher).Hash(sqltypes.NewInt64(id))
		if err != nil {
			t.Fatal(err)
		}
		return string(k)
	}
	for _, c := range []struct {
		owner, column, shardBy, lookup string
		exact                          bool
	}{
		{"wo", "id", "w_id", "lk.wo_id", true},
		{"wl", "tag", "id", "lk.wl_tag", false},
		{"wl", "grp", "id", "lk.wl_grp", false},
	} {
		want := map[string]bool{}
		rows, err := gate.QueryContext(context.Background(), "select "+c.column+", "+c.shardBy+" from "+c.owner)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v sql.NullString
			var id int64
			if err := rows.Scan(&v, &id); err != nil {
				t.Fatal(err)
			}
			if v.Valid {
				want[v.String+"\x00"+ksid(id)] = true
			}
		}
		rows.Close()
		have := map[string]bool{}
		rows, err = gate.QueryContext(context.Background(), "select "+strings.Split(c.lookup, ".")[1]+"."+c.column+", keyspace_id from "+c.lookup)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v string
			var k []byte
			if err := rows.Scan(&v, &k); err != nil {
				t.Fatal(err)
			}
			have[v+"\x00"+string(k)] = true
		}
		rows.Close()
		for k := range want {
			if !have[k] {
				t.Errorf("%s: %s row %s has no row in lookup table %s", when, c.owner, strings.Split(k, "\x00")[0], c.lookup)
			}
		}
		if c.exact {
			for k := range have {
				if !want[k] {
					t.Errorf("%s: lookup table %s has a row for %s that no %s row holds", when, c.lookup, strings.Split(k, "\x00")[0], c.owner)
				}
			}
		}
	}
}
