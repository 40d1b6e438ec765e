package integration

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
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
