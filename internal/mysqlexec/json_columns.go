package mysqlexec

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/internal/connpool"
)

// JSON columns.
//
// MariaDB stores JSON as LONGTEXT with a CHECK (json_valid(col)), and
// tells clients that ask for its extended metadata (the mariadb client,
// node's mysql2) that such a column holds JSON: "format=json", which
// mysql2 uses to parse the values. Vitess's MySQL client does not ask for
// that metadata, so the server's JSON columns are read from
// information_schema and marked in the column definitions
// (Field.column_type "json"); the gate's MySQL port passes the format on.

// JSONColumnType marks a JSON column in Field.column_type.
const JSONColumnType = "json"

// jsonColumnsMaxAge bounds how long a DDL run past this Server (a schema
// change through the tablet seen by a gate's direct reads, or straight on
// MariaDB) can leave the marks stale.
const jsonColumnsMaxAge = 30 * time.Second

type jsonColumns struct {
	mu     sync.Mutex
	byName map[string]bool // "table\x00column", lower-cased
	read   time.Time
	stale  bool
	// version counts the DDL statements seen (ColumnsVersion).
	version atomic.Uint64
}

// markJSONColumns sets column_type "json" on the fields of JSON columns.
func (s *Server) markJSONColumns(conn *connpool.Conn, fields []*vquerypb.Field) {
	var candidates bool
	for _, f := range fields {
		if isLongText(f) && f.OrgTable != "" {
			candidates = true
			break
		}
	}
	if !candidates {
		return
	}
	cols := s.jsonColumnSet(conn)
	for _, f := range fields {
		if isLongText(f) && cols[strings.ToLower(f.OrgTable)+"\x00"+strings.ToLower(f.OrgName)] {
			f.ColumnType = JSONColumnType
		}
	}
}

// isLongText reports a text column as Vitess's client types it: TEXT, or
// BLOB when its collation is binary-flagged (JSON's utf8mb4_bin).
func isLongText(f *vquerypb.Field) bool {
	return (f.Type == sqltypes.Text || f.Type == sqltypes.Blob) && f.Charset != 63
}

// jsonColumnSet returns the database's JSON columns, reading them on conn
// when they are unknown or old; with conn nil (its result is still being
// read) what is known. A failed read leaves the columns unmarked.
func (s *Server) jsonColumnSet(conn *connpool.Conn) map[string]bool {
	j := &s.json
	j.mu.Lock()
	defer j.mu.Unlock()
	if conn == nil || j.byName != nil && !j.stale && time.Since(j.read) < jsonColumnsMaxAge {
		return j.byName
	}
	res, err := conn.ExecuteFetch("SELECT table_name, constraint_name FROM information_schema.check_constraints "+
		"WHERE constraint_schema = "+sqltypes.EncodeStringSQL(s.params.DbName)+
		" AND level = 'Column' AND check_clause = CONCAT('json_valid(`', constraint_name, '`)')", 10000, false)
	if err != nil {
		connpool.NoteError(conn, err)
		return j.byName
	}
	cols := make(map[string]bool, len(res.Rows))
	for _, row := range res.Rows {
		cols[strings.ToLower(row[0].ToString())+"\x00"+strings.ToLower(row[1].ToString())] = true
	}
	j.byName, j.read, j.stale = cols, time.Now(), false
	return cols
}

// NoteDDL makes the next result read the JSON columns again after a
// statement that may have changed them.
func (s *Server) NoteDDL(sql string) {
	word := StatementVerb(sql)
	for _, ddl := range [...]string{"create", "alter", "drop", "rename"} {
		if strings.EqualFold(word, ddl) {
			s.json.version.Add(1)
			s.ForgetColumns()
			return
		}
	}
}

// ForgetColumns makes the next result read the JSON columns again: a DDL
// ran elsewhere (the tablet's, for a gate's direct reads).
func (s *Server) ForgetColumns() {
	s.json.mu.Lock()
	s.json.stale = true
	s.json.mu.Unlock()
}

// ColumnsVersion changes whenever NoteDDL saw a statement that may have
// changed the JSON columns.
func (s *Server) ColumnsVersion() uint64 { return s.json.version.Load() }

// StatementVerb is the first word of the statement sql runs: of its
// statement when sql is SET STATEMENT ... FOR <statement> (the session's
// settings, as the gate prefixes them).
func StatementVerb(sql string) string {
	word := firstWord(sql)
	if strings.EqualFold(word, "set") {
		if i := strings.Index(sql, " FOR "); i >= 0 {
			word = firstWord(sql[i+5:])
		} else if i := strings.Index(sql, " for "); i >= 0 {
			word = firstWord(sql[i+5:])
		}
	}
	return word
}

func firstWord(sql string) string {
	sql = strings.TrimLeft(sql, " \t\r\n(")
	if i := strings.IndexAny(sql, " \t\r\n("); i >= 0 {
		return sql[:i]
	}
	return sql
}
