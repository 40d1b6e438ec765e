package integration

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql/sqlerror"

	"github.com/shardgate/shardgate/gateway"
	"github.com/shardgate/shardgate/localcluster"
)

var updateReaderCases = flag.Bool("update-reader-cases", false,
	"rewrite sqlrouter/loaddata/testdata/reader_cases.json with what MariaDB loads")

const readerCasesFile = "../../sqlrouter/loaddata/testdata/reader_cases.json"

// readerCase is a case of sqlrouter/loaddata's reader_cases.json (see
// its reader_test.go).
type readerCase struct {
	Name     string      `json:"name"`
	Columns  int         `json:"columns"`
	Clauses  string      `json:"clauses"`
	Data     string      `json:"data"`
	Rows     [][]*string `json:"rows"`
	Warnings []string    `json:"warnings"`
}

var rowOfWarning = regexp.MustCompile(`^Row (\d+) `)

// TestLoadDataReaderCasesMatchMariaDB loads every file of the loaddata
// reader's cases into a plain MariaDB with LOAD DATA LOCAL INFILE and
// checks that it loads the rows, and warns of the short and long lines,
// that the cases say (which the reader's unit test holds the reader to).
func TestLoadDataReaderCasesMatchMariaDB(t *testing.T) {
	b, err := os.ReadFile(readerCasesFile)
	if err != nil {
		t.Fatal(err)
	}
	var cases []readerCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	cfg := startMySQLD(t, freePort(t), 1)
	db := openDB(t, cfg.DSN("ks"))
	ctx := context.Background()
	for i := range cases {
		c := &cases[i]
		t.Run(c.Name, func(t *testing.T) {
			rows, warnings := loadIntoMariaDB(t, ctx, db, i, c)
			if *updateReaderCases {
				c.Rows, c.Warnings = rows, warnings
				return
			}
			if !reflect.DeepEqual(rows, c.Rows) {
				t.Errorf("MariaDB loaded %s, the case says %s", showRows(rows), showRows(c.Rows))
			}
			if !reflect.DeepEqual(warnings, c.Warnings) {
				t.Errorf("MariaDB warned %q, the case says %q", warnings, c.Warnings)
			}
		})
	}
	if *updateReaderCases {
		if err := os.WriteFile(readerCasesFile, formatReaderCases(t, cases), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// loadIntoMariaDB loads a case's file into a table of its columns (nullable
// VARBINARY, in file order) and returns the rows and the 1261 and 1262
// warnings, in the cases' form.
func loadIntoMariaDB(t *testing.T, ctx context.Context, db *sql.DB, i int, c *readerCase) ([][]*string, []string) {
	t.Helper()
	table := fmt.Sprintf("reader_case_%d", i)
	cols := []string{"row_id INT AUTO_INCREMENT PRIMARY KEY"}
	names := make([]string, c.Columns)
	for j := range names {
		names[j] = fmt.Sprintf("c%d", j+1)
		cols = append(cols, names[j]+" VARBINARY(1000) NULL")
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf("CREATE TABLE %s (%s)", table, strings.Join(cols, ", "))); err != nil {
		t.Fatal(err)
	}
	handler := "reader_case_" + c.Name
	mysql.RegisterReaderHandler(handler, func() io.Reader { return strings.NewReader(c.Data) })
	defer mysql.DeregisterReaderHandler(handler)
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stmt := fmt.Sprintf("LOAD DATA LOCAL INFILE 'Reader::%s' INTO TABLE %s CHARACTER SET binary %s (%s)", handler, table, c.Clauses, strings.Join(names, ", "))
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	warnings := []string{}
	wrows, err := conn.QueryContext(ctx, "SHOW WARNINGS")
	if err != nil {
		t.Fatal(err)
	}
	for wrows.Next() {
		var level, msg string
		var code int
		if err := wrows.Scan(&level, &code, &msg); err != nil {
			t.Fatal(err)
		}
		m := rowOfWarning.FindStringSubmatch(msg)
		if (code != 1261 && code != 1262) || m == nil {
			t.Errorf("unexpected warning %d: %s", code, msg)
			continue
		}
		warnings = append(warnings, fmt.Sprintf("%d row %s", code, m[1]))
	}
	if err := wrows.Err(); err != nil {
		t.Fatal(err)
	}
	wrows.Close()
	sel := append([]string{"row_id"}, names...)
	rows, err := conn.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s ORDER BY row_id", strings.Join(sel, ", "), table))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := [][]*string{}
	for rows.Next() {
		vals := make([]sql.NullString, len(sel))
		ptrs := make([]any, len(sel))
		for j := range vals {
			ptrs[j] = &vals[j]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]*string, c.Columns)
		for j := range row {
			if v := vals[j+1]; v.Valid {
				s := v.String
				row[j] = &s
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out, warnings
}

func showRows(rows [][]*string) string {
	var b strings.Builder
	for _, row := range rows {
		b.WriteString("[")
		for i, v := range row {
			if i > 0 {
				b.WriteString(" ")
			}
			if v == nil {
				b.WriteString("NULL")
			} else {
				fmt.Fprintf(&b, "%q", *v)
			}
		}
		b.WriteString("]")
	}
	return b.String()
}

// formatReaderCases writes the cases one to a few lines each, for diffs
// that read well.
func formatReaderCases(t *testing.T, cases []readerCase) []byte {
	enc := func(v any) string {
		var buf bytes.Buffer
		e := json.NewEncoder(&buf)
		e.SetEscapeHTML(false)
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSuffix(buf.String(), "\n")
	}
	var b strings.Builder
	b.WriteString("[\n")
	for i, c := range cases {
		fmt.Fprintf(&b, " {\"name\": %s, \"columns\": %d, \"clauses\": %s,\n  \"data\": %s,\n  \"rows\": %s,\n  \"warnings\": %s}",
			enc(c.Name), c.Columns, enc(c.Clauses), enc(c.Data), enc(c.Rows), enc(c.Warnings))
		if i < len(cases)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	return []byte(b.String())
}

// ldSchema is the table the LOAD DATA test loads, sharded (ks.ld) and
// unsharded (main.ldu), and on a plain MariaDB.
const ldSchema = `(
  id BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL, note TEXT, n INT, amount DECIMAL(12,2),
  d DATE, flag TINYINT NOT NULL DEFAULT 1, bin VARBINARY(16)
) DEFAULT CHARSET=utf8mb4`

// ldlSchema is a table that owns a consistent lookup vindex on email.
const ldlSchema = `(id BIGINT PRIMARY KEY, email VARCHAR(64) NOT NULL, UNIQUE KEY (email)) DEFAULT CHARSET=utf8mb4`

// ldFormat is the test file's format: CSV with a header line.
const ldFormat = `FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' LINES TERMINATED BY '\n' IGNORE 1 LINES`

// ldFile is a CSV of 3,000 rows and some more that MariaDB loads with
// warnings: NULLs spelled \N and NULL, "NULL" as a string, quotes doubled
// and escaped, commas and newlines inside quotes, escapes, unicode, short
// and long lines, a value MariaDB truncates, duplicate keys, NULL for a
// NOT NULL column.
func ldFile() []byte {
	var b strings.Builder
	b.WriteString("id,name,note,n,amount,d,flag,bin\n")
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= 3000; i++ {
		name := fmt.Sprintf("name %d", i)
		switch i % 10 {
		case 1:
			name = fmt.Sprintf(`"Zoë, ✓ 😀 日本 %d"`, i)
		case 2:
			name = fmt.Sprintf(`"say ""hi"" \"there\" %d"`, i)
		case 3:
			name = fmt.Sprintf(`back\\slash\ttab %d`, i)
		case 4:
			name = fmt.Sprintf("\"two\nlines, %d\"", i)
		case 5:
			name = `""`
		}
		note := fmt.Sprintf("note %d", i)
		switch i % 7 {
		case 0:
			note = `\N`
		case 1:
			note = `NULL`
		case 2:
			note = `"NULL"`
		case 3:
			note = `"esc \0 \Z \b \\ end"`
		}
		n := fmt.Sprint(i*7 - 5000)
		if i%5 == 0 {
			n = `\N`
		}
		amount := fmt.Sprintf("%d.%02d", i, i%100)
		if i%6 == 0 {
			amount = `\N`
		}
		d := day.AddDate(0, 0, i).Format("2006-01-02")
		if i%8 == 0 {
			d = `\N`
		}
		bin := fmt.Sprintf("b%x", i)
		switch i % 9 {
		case 0:
			bin = `\N`
		case 1:
			bin = `a\0b\Zc`
		}
		fmt.Fprintf(&b, "%d,%s,%s,%s,%s,%s,%d,%s\n", i, name, note, n, amount, d, i%2, bin)
	}
	b.WriteString("3001,short one,\\N,1,2.00,2024-01-01\n")
	b.WriteString("3002,short two,x,1,2.00,2024-01-01\n")
	b.WriteString("3003,short three,x,1,2.00,2024-01-01\n")
	b.WriteString("3004,long,x,1,1.00,2024-01-01,1,b,EXTRA\n")
	b.WriteString("3005,long,x,1,1.00,2024-01-01,1,b,EXTRA,MORE\n")
	b.WriteString("3006,truncated,x,12abc,1.00,2024-01-01,1,b\n")
	b.WriteString("3007,truncated,x,34xyz,1.00,2024-01-01,1,b\n")
	b.WriteString("100,duplicate,x,1,1.00,2024-01-01,1,b\n")
	b.WriteString("200,duplicate,x,1,1.00,2024-01-01,1,b\n")
	b.WriteString("3008,\\N,x,1,1.00,2024-01-01,1,b\n")
	b.WriteString("3009,NULL,x,1,1.00,2024-01-01,1,b\n")
	b.WriteString("3010,empty flag,x,1,1.00,2024-01-01,,b\n")
	return []byte(b.String())
}

// ldReplaceFile replaces every row, but its row 2,500 has a name too long
// for the column: in strict mode the load fails.
func ldReplaceFile() []byte {
	var b strings.Builder
	b.WriteString("id,name,note,n,amount,d,flag,bin\n")
	for i := 1; i <= 3000; i++ {
		name := fmt.Sprintf("replaced %d", i)
		if i == 2500 {
			name = strings.Repeat("x", 100)
		}
		fmt.Fprintf(&b, "%d,%s,\\N,\\N,\\N,\\N,1,\\N\n", i, name)
	}
	return []byte(b.String())
}

// loadReference runs a LOAD DATA LOCAL INFILE of data on a plain MariaDB
// with the mariadb client and returns its "Query OK" and info lines and its
// warnings.
func loadReference(t *testing.T, socket string, data []byte, stmt string) (ok, info string, warnings []string, err error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file.csv")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	stmt = strings.Replace(stmt, "'FILE'", "'"+path+"'", 1)
	cmd := exec.Command("mariadb", "--no-defaults", "-S", socket, "-uroot", "--local-infile=1", "-vvv", "ks", "-e", stmt+"; SHOW WARNINGS")
	out, runErr := cmd.CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "Query OK"):
			ok = line[:strings.Index(line, " (")]
		case strings.HasPrefix(line, "Records:"):
			info = line
		case strings.HasPrefix(line, "| Warning") || strings.HasPrefix(line, "| Note") || strings.HasPrefix(line, "| Error"):
			parts := strings.Split(line, "|")
			warnings = append(warnings, strings.TrimSpace(parts[2])+" "+strings.TrimSpace(parts[3]))
		case strings.HasPrefix(line, "ERROR"):
			err = errors.New(line)
		}
	}
	if runErr != nil && err == nil {
		t.Fatalf("mariadb: %v\n%s", runErr, out)
	}
	return ok, info, warnings, err
}

var atRow = regexp.MustCompile(` at row \d+$`)

// comparableWarnings are warnings as "code message", sorted, with the row
// numbers of the shards' own warnings left out: a shard numbers the rows
// of its part of a batch, MariaDB those of the file. The gate's (1261,
// 1262, 1263) keep theirs, which must be the file's.
func comparableWarnings(warnings []string) []string {
	out := make([]string, len(warnings))
	for i, w := range warnings {
		w = strings.ReplaceAll(w, "`main`.`", "`ks`.`") // the reference has one database
		if !strings.HasPrefix(w, "1261 ") && !strings.HasPrefix(w, "1262 ") && !strings.HasPrefix(w, "1263 ") {
			w = atRow.ReplaceAllString(w, "")
		}
		out[i] = w
	}
	sort.Strings(out)
	return out
}

// gateLoad runs a statement of session s on the in-process executor, the
// client's file being data.
func gateLoad(t *testing.T, e *gateway.Executor, s *gateway.Session, data []byte, stmt string) (ok, info string, warnings []string, err error) {
	t.Helper()
	s.LocalFiles = func(string) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	res, err := e.Execute(context.Background(), s, strings.Replace(stmt, "'FILE'", "'file.csv'", 1), nil)
	if err != nil {
		return "", "", nil, err
	}
	ok = fmt.Sprintf("Query OK, %d rows affected", res.RowsAffected)
	if n := s.WarningCount(); n > 0 {
		ok += fmt.Sprintf(", %d warnings", n)
	}
	w, err := e.Execute(context.Background(), s, "show warnings", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range w.Rows {
		warnings = append(warnings, row[1].ToString()+" "+row[2].ToString())
	}
	return ok, res.Info, warnings, nil
}

// tableRows reads a table as strings (NULL as \N), ordered by its first
// column.
func tableRows(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	rows, err := db.Query("SELECT * FROM " + table + " ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				parts[i] = `\N`
			} else {
				parts[i] = fmt.Sprintf("%q", v)
			}
		}
		out = append(out, strings.Join(parts, ","))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameRows(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d rows, MariaDB has %d", what, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("%s: row %d is %s, MariaDB has %s", what, i+1, got[i], want[i])
			return
		}
	}
}

// TestLoadData loads a CSV through the gate's executor (in process, with
// the client's file handed to Session.LocalFiles, as the MySQL front end
// hands it) into a sharded table, an unsharded one, a table with a
// sequence and one that owns a lookup vindex, and compares every row,
// the answer and the warnings with what the same LOAD DATA LOCAL INFILE
// gives on a plain MariaDB; and loads that fail midway leave nothing.
func TestLoadData(t *testing.T) {
	c := startClusterWith(t, func(cfg *localcluster.Config) {
		ks := &cfg.Keyspaces[0]
		ks.VSchema = []byte(strings.Replace(string(ks.VSchema), `"tables": {`, `"tables": {
    "ld":  {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "ldl": {"column_vindexes": [{"column": "id", "name": "hash"}, {"column": "email", "name": "ldl_email"}]},`, 1))
		ks.VSchema = []byte(strings.Replace(string(ks.VSchema), `"vindexes": {`, `"vindexes": {
    "ldl_email": {"type": "consistent_lookup_unique", "params": {"table": "main.ldl_email", "from": "email", "to": "keyspace_id"}, "owner": "ldl"},`, 1))
		ks.Schema = []byte(string(ks.Schema) + "CREATE TABLE ld " + ldSchema + ";\nCREATE TABLE ldl " + ldlSchema + ";\n")
		main := &cfg.Keyspaces[1]
		main.Schema = []byte(string(main.Schema) + "CREATE TABLE ldu " + ldSchema + ";\n" +
			"CREATE TABLE ldl_email (email VARCHAR(64) PRIMARY KEY, keyspace_id VARBINARY(64) NOT NULL);\n")
	})
	ref := startMySQLD(t, freePort(t), 9)
	refDB := openDB(t, ref.DSN("ks"))
	for _, table := range []string{"ld", "ldu"} {
		if _, err := refDB.Exec("CREATE TABLE " + table + " " + ldSchema); err != nil {
			t.Fatal(err)
		}
	}
	gate := openDB(t, c.GateDSN("ks"))

	cfg := gateway.Defaults()
	cfg.TopoEndpoints, cfg.TopoRoot, cfg.Cell = []string{c.TopoAddr()}, c.TopoRoot(), c.Cell()
	e, closeExecutor, err := gateway.OpenExecutor(context.Background(), cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer closeExecutor()
	session := func(keyspace string) *gateway.Session {
		s := gateway.NewSession(1, "root")
		s.Keyspace = keyspace
		return s
	}
	var names []string
	shards := map[string]*sql.DB{}
	for _, tab := range c.Tablets() {
		if tab.Keyspace == "ks" {
			names = append(names, tab.Shard)
			shards[tab.Shard] = openDB(t, tab.MySQLDSN())
		}
	}

	data := ldFile()
	for _, target := range []struct{ keyspace, table string }{{"ks", "ld"}, {"main", "ldu"}} {
		t.Run("LoadInto_"+target.table, func(t *testing.T) {
			stmt := "LOAD DATA LOCAL INFILE 'FILE' INTO TABLE " + target.table + " " + ldFormat
			wantOK, wantInfo, wantWarnings, err := loadReference(t, ref.SocketPath(), data, strings.Replace(stmt, target.table, "ks."+target.table, 1))
			if err != nil {
				t.Fatal(err)
			}
			ok, info, warnings, err := gateLoad(t, e, session(target.keyspace), data, stmt)
			if err != nil {
				t.Fatal(err)
			}
			if ok != wantOK || info != wantInfo {
				t.Errorf("gate: %s / %s\nMariaDB: %s / %s", ok, info, wantOK, wantInfo)
			}
			if got, want := comparableWarnings(warnings), comparableWarnings(wantWarnings); !reflect.DeepEqual(got, want) {
				t.Errorf("warnings:\n%s\nMariaDB's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			sameRows(t, target.table, tableRows(t, gate, target.keyspace+"."+target.table), tableRows(t, refDB, target.table))
		})
	}

	t.Run("RowsOnTheirShards", func(t *testing.T) {
		total := 0
		for shard, db := range shards {
			rows, err := db.Query("SELECT id FROM ld")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				if want := shardOf(t, id, names); want != shard {
					t.Errorf("row %d is on shard %s; its vindex says %s", id, shard, want)
				}
				total++
			}
			rows.Close()
		}
		if total != 3010 {
			t.Errorf("%d rows on the shards, want 3010", total)
		}
	})

	t.Run("FailingLoadLeavesNothing", func(t *testing.T) {
		stmt := "LOAD DATA LOCAL INFILE 'FILE' REPLACE INTO TABLE ld " + ldFormat
		before := tableRows(t, gate, "ld")
		_, _, _, refErr := loadReference(t, ref.SocketPath(), ldReplaceFile(), strings.Replace(stmt, " ld ", " ks.ld ", 1))
		if refErr == nil || !strings.Contains(refErr.Error(), "1406") {
			t.Fatalf("MariaDB: %v, want error 1406", refErr)
		}
		_, _, _, err := gateLoad(t, e, session("ks"), ldReplaceFile(), stmt)
		if se := sqlErr(err); se == nil || se.Num != 1406 {
			t.Fatalf("gate: %v, want error 1406", err)
		}
		sameRows(t, "after the failed REPLACE", tableRows(t, gate, "ld"), before)
		sameRows(t, "MariaDB after the failed REPLACE", tableRows(t, refDB, "ld"), before)

		// In a transaction the load is undone; the transaction goes on.
		s := session("ks")
		for _, sql := range []string{"begin", "insert into ld (id, name) values (5000, 'kept')"} {
			if _, err := e.Execute(context.Background(), s, sql, nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, _, err := gateLoad(t, e, s, ldReplaceFile(), stmt); err == nil {
			t.Fatal("the load did not fail")
		}
		if _, err := e.Execute(context.Background(), s, "commit", nil); err != nil {
			t.Fatal(err)
		}
		after := tableRows(t, gate, "ld")
		if len(after) != len(before)+1 || !strings.HasPrefix(after[len(after)-1], `"5000","kept"`) {
			t.Fatalf("after the transaction: %d rows (last %s), want %d and row 5000", len(after), after[len(after)-1], len(before)+1)
		}
		if _, err := gate.Exec("delete from ld where id = 5000"); err != nil {
			t.Fatal(err)
		}

		// A client whose file breaks off midway loads nothing either.
		s = session("ks")
		s.LocalFiles = func(string) (io.ReadCloser, error) {
			return io.NopCloser(io.MultiReader(bytes.NewReader(ldReplaceFile()[:60000]), iotest.ErrReader(errors.New("connection reset")))), nil
		}
		if _, err := e.Execute(context.Background(), s, "LOAD DATA LOCAL INFILE 'f' REPLACE INTO TABLE ld "+ldFormat, nil); err == nil {
			t.Fatal("a broken file loaded")
		}
		sameRows(t, "after the broken file", tableRows(t, gate, "ld"), before)
	})

	t.Run("ColumnListAndSet", func(t *testing.T) {
		// Fields into variables and columns, and SET expressions that
		// read both, into the sharded table (emptied first, on both sides).
		for _, db := range []*sql.DB{gate, refDB} {
			if _, err := db.Exec("DELETE FROM ld"); err != nil {
				t.Fatal(err)
			}
		}
		var b strings.Builder
		for i := 1; i <= 1500; i++ {
			fmt.Fprintf(&b, "%d;Name %d;%d\n", i, i, i%4)
			if i%500 == 0 {
				fmt.Fprintf(&b, "%d;\\N\n", 10000+i) // short, with NULL
			}
		}
		data := []byte(b.String())
		stmt := "LOAD DATA LOCAL INFILE 'FILE' INTO TABLE ld CHARACTER SET utf8mb4 FIELDS TERMINATED BY ';' (@id, name, @n) " +
			"SET id = @id, n = @n * 2, note = CONCAT(name, '!'), d = IF(@n IS NULL, NULL, '2024-02-29'), bin = @missing"
		wantOK, wantInfo, wantWarnings, err := loadReference(t, ref.SocketPath(), data, strings.Replace(stmt, " ld ", " ks.ld ", 1))
		if err != nil {
			t.Fatal(err)
		}
		ok, info, warnings, err := gateLoad(t, e, session("ks"), data, stmt)
		if err != nil {
			t.Fatal(err)
		}
		if ok != wantOK || info != wantInfo {
			t.Errorf("gate: %s / %s\nMariaDB: %s / %s", ok, info, wantOK, wantInfo)
		}
		if got, want := comparableWarnings(warnings), comparableWarnings(wantWarnings); !reflect.DeepEqual(got, want) {
			t.Errorf("warnings:\n%s\nMariaDB's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		sameRows(t, "ld", tableRows(t, gate, "ld"), tableRows(t, refDB, "ld"))
	})

	t.Run("LookupVindex", func(t *testing.T) {
		var b strings.Builder
		for i := 1; i <= 2000; i++ {
			email := fmt.Sprintf("user%d@example.com", i)
			if i == 1500 {
				email = "user7@example.com" // taken by row 7
			}
			fmt.Fprintf(&b, "%d\t%s\n", i, email)
		}
		dup := []byte(b.String())
		// A table that owns a lookup vindex is loaded with INSERT: a
		// duplicate fails the load, which leaves none of its rows. (A
		// consistent lookup writes its rows before the owner's, outside its
		// transaction: those stay, unowned, until an owner row takes them.)
		_, _, _, err := gateLoad(t, e, session("ks"), dup, "LOAD DATA LOCAL INFILE 'FILE' INTO TABLE ldl")
		if se := sqlErr(err); se == nil || se.Num != 1062 {
			t.Fatalf("load with a duplicate email: %v, want error 1062", err)
		}
		if rows := tableRows(t, gate, "ks.ldl"); len(rows) != 0 {
			t.Fatalf("ldl has %d rows after the failed load", len(rows))
		}
		clean := bytes.Replace(dup, []byte("1500\tuser7@"), []byte("1500\tuser1500@"), 1)
		ok, info, _, err := gateLoad(t, e, session("ks"), clean, "LOAD DATA LOCAL INFILE 'FILE' INTO TABLE ldl")
		if err != nil || ok != "Query OK, 2000 rows affected" || info != "Records: 2000  Deleted: 0  Skipped: 0  Warnings: 0" {
			t.Fatalf("load: %s / %s / %v", ok, info, err)
		}
		if n := len(tableRows(t, gate, "main.ldl_email")); n != 2000 {
			t.Fatalf("the lookup table has %d rows, want 2000", n)
		}
		var id int64
		if err := gate.QueryRow("select id from ldl where email = 'user1234@example.com'").Scan(&id); err != nil || id != 1234 {
			t.Fatalf("read by the lookup vindex: %d, %v", id, err)
		}
	})

	t.Run("ReferenceTable", func(t *testing.T) {
		var b strings.Builder
		for i := range 300 {
			fmt.Fprintf(&b, "c%d\tname %d\n", i, i)
		}
		ok, _, _, err := gateLoad(t, e, session("ks"), []byte(b.String()), "LOAD DATA LOCAL INFILE 'FILE' INTO TABLE ref")
		if err != nil || ok != "Query OK, 300 rows affected" {
			t.Fatalf("load: %s, %v", ok, err)
		}
		for shard, db := range shards {
			if rows := tableRows(t, db, "ref"); len(rows) != 300 {
				t.Errorf("shard %s has %d rows of the reference table, want 300", shard, len(rows))
			}
		}
	})

	t.Run("Sequence", func(t *testing.T) {
		var b strings.Builder
		for i := range 1200 {
			fmt.Fprintf(&b, "item %d\n", i)
		}
		s := session("ks")
		ok, _, _, err := gateLoad(t, e, s, []byte(b.String()), "LOAD DATA LOCAL INFILE 'FILE' INTO TABLE item (name)")
		if err != nil || ok != "Query OK, 1200 rows affected" {
			t.Fatalf("load: %s, %v", ok, err)
		}
		res, err := e.Execute(context.Background(), s, "select last_insert_id(), count(*), count(distinct id), min(id) from item", nil)
		if err != nil {
			t.Fatal(err)
		}
		row := res.Rows[0]
		if row[1].ToString() != "1200" || row[2].ToString() != "1200" || row[0].ToString() != row[3].ToString() {
			t.Fatalf("last_insert_id, count, distinct ids, min id: %v", row)
		}
		for shard, db := range shards {
			rows, err := db.Query("SELECT id FROM item")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				if want := shardOf(t, id, names); want != shard {
					t.Errorf("item %d is on shard %s; its vindex says %s", id, shard, want)
				}
			}
			rows.Close()
		}
	})
}

func sqlErr(err error) *sqlerror.SQLError {
	var se *sqlerror.SQLError
	if errors.As(err, &se) {
		return se
	}
	return nil
}
