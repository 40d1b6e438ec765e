package gateway

import (
	"regexp"
	"strconv"
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
)

// A session's diagnostics area, as MariaDB keeps one per connection: the
// warnings the last statement that raised any raised on any shard (each
// tablet reads them with SHOW WARNINGS on the connection that ran the
// statement), or the error it failed with. As in MariaDB, a statement
// clears the area when it uses tables or raises diagnostics of its own;
// one that does neither (SELECT 'x', SET @a = 1, SHOW WARNINGS) leaves it
// for SHOW WARNINGS to read. The warning count in a statement's OK or EOF
// packet counts what that statement raised.

// maxWarnings is MariaDB's default max_error_count: a statement keeps at
// most this many, though the count reports them all.
const maxWarnings = 64

// diagnostics is the session's diagnostics area.
type diagnostics struct {
	list []Warning
	// fresh: the area belongs to the current statement (cleared for it).
	fresh bool
	// raised counts what the current statement raised.
	raised int
	// priorWarnings and priorErrors are the area's counts as the current
	// statement began: what @@warning_count and @@error_count read.
	priorWarnings, priorErrors int
	// rowCount is what ROW_COUNT() answers after the statement: the rows
	// it changed, -1 after a result set or an error; priorRowCount is the
	// previous statement's, which the current one reads.
	rowCount, priorRowCount int64
}

// startDiagnostics begins a statement (nil: one that did not parse) and
// returns what records its outcome when it ends: its result (nil when it
// was streamed) or error.
func (s *Session) startDiagnostics(stmt sqlparser.Statement) (end func(*sqltypes.Result, error)) {
	clears := stmt != nil && usesTables(stmt)
	s.mu.Lock()
	d := &s.diag
	d.priorWarnings, d.priorErrors = len(d.list), 0
	for _, w := range d.list {
		if w.Level == "Error" {
			d.priorErrors++
		}
	}
	d.raised, d.fresh = 0, false
	d.priorRowCount = d.rowCount
	if clears {
		d.list, d.fresh = d.list[:0], true
	}
	s.mu.Unlock()
	return func(res *sqltypes.Result, err error) {
		if err != nil {
			s.noteError(err)
		}
		rowCount := int64(-1)
		if err == nil && res != nil && len(res.Fields) == 0 {
			rowCount = int64(res.RowsAffected)
		}
		s.mu.Lock()
		s.diag.rowCount = rowCount
		s.mu.Unlock()
	}
}

// addLocked adds a diagnostic of the current statement, clearing the
// previous statement's first. Callers hold s.mu.
func (d *diagnostics) addLocked(w Warning) {
	if !d.fresh {
		d.list, d.fresh = d.list[:0], true
	}
	d.raised++
	if len(d.list) < maxWarnings {
		d.list = append(d.list, w)
	}
}

// noteWarnings adds what a shard reported for its part of the statement.
// Shards of one statement run in parallel: the session's mutex orders them.
func (s *Session) noteWarnings(list []*querypb.Warning) {
	if len(list) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range list {
		s.diag.addLocked(Warning{Level: w.Level, Code: uint16(w.Code), Message: string(w.Message)})
	}
}

// countWarnings counts warnings the statement raised beyond those listed.
func (s *Session) countWarnings(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.diag.fresh {
		s.diag.list, s.diag.fresh = s.diag.list[:0], true
	}
	s.diag.raised += n
}

// noteWarning adds a warning the gate raises itself.
func (s *Session) noteWarning(level string, code uint16, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.diag.addLocked(Warning{Level: level, Code: code, Message: message})
}

// noteError records the error a statement failed with, which SHOW
// WARNINGS and SHOW ERRORS list after the warnings it raised before.
func (s *Session) noteError(err error) {
	se := sqlerr.From(err)
	s.mu.Lock()
	defer s.mu.Unlock()
	d := &s.diag
	if d.fresh && len(d.list) >= maxWarnings {
		d.list = d.list[:maxWarnings-1]
	}
	d.addLocked(Warning{Level: "Error", Code: uint16(se.Num), Message: se.Message})
}

// usesTables reports whether a statement clears the diagnostics area by
// itself: it names a table, or is not one of the statements that can do
// without (SELECT, SET, SHOW, USE and transaction control).
func usesTables(stmt sqlparser.Statement) bool {
	switch stmt := stmt.(type) {
	case *sqlparser.Select:
		return readsTables(stmt)
	case *sqlparser.Set, *sqlparser.Show, *sqlparser.Use, *sqlparser.Begin, *sqlparser.Commit, *sqlparser.Rollback,
		*sqlparser.Savepoint, *sqlparser.SRollback, *sqlparser.Release, *sqlparser.CommentOnly:
		return false
	}
	return true
}

// warningFields are SHOW WARNINGS's columns, typed as MariaDB types them.
var warningFields = []*vquerypb.Field{
	{Name: "Level", Type: sqltypes.VarChar, ColumnLength: 28, Charset: 45, Decimals: 39, Flags: uint32(vquerypb.MySqlFlag_NOT_NULL_FLAG)},
	{Name: "Code", Type: sqltypes.Uint32, ColumnLength: 4, Charset: 63,
		Flags: uint32(vquerypb.MySqlFlag_NOT_NULL_FLAG | vquerypb.MySqlFlag_UNSIGNED_FLAG | vquerypb.MySqlFlag_NUM_FLAG)},
	{Name: "Message", Type: sqltypes.VarChar, ColumnLength: 2048, Charset: 45, Decimals: 39, Flags: uint32(vquerypb.MySqlFlag_NOT_NULL_FLAG)},
}

// showWarnings answers SHOW WARNINGS and SHOW ERRORS [LIMIT [offset,] n].
func (s *Session) showWarnings(errorsOnly bool, limit *sqlparser.Limit) (*sqltypes.Result, error) {
	offset, count := 0, maxWarnings
	if limit != nil {
		var err error
		if offset, err = limitNumber(limit.Offset, 0); err != nil {
			return nil, err
		}
		if count, err = limitNumber(limit.Rowcount, maxWarnings); err != nil {
			return nil, err
		}
	}
	res := &sqltypes.Result{Fields: warningFields}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.diag.list {
		if errorsOnly && w.Level != "Error" {
			continue
		}
		if offset > 0 {
			offset--
			continue
		}
		if len(res.Rows) == count {
			break
		}
		res.Rows = append(res.Rows, sqltypes.Row{
			sqltypes.NewVarChar(w.Level), sqltypes.NewUint32(uint32(w.Code)), sqltypes.NewVarChar(w.Message),
		})
	}
	return res, nil
}

func limitNumber(expr sqlparser.Expr, absent int) (int, error) {
	if expr == nil {
		return absent, nil
	}
	if lit, ok := expr.(*sqlparser.Literal); ok && lit.Type == sqlparser.IntVal {
		if n, err := strconv.Atoi(lit.Val); err == nil {
			return n, nil
		}
	}
	return 0, sqlerr.New(sqlerror.ERWrongArguments, sqlerror.SSUnknownSQLState, "Incorrect arguments to LIMIT: SHOW WARNINGS takes numbers")
}

// showCountDiagnostics matches SHOW COUNT(*) WARNINGS | ERRORS, which
// Vitess's parser does not know.
var showCountDiagnostics = regexp.MustCompile(`(?i)^\s*show\s+count\s*\(\s*\*\s*\)\s+(warnings|errors)\s*;?\s*$`)

// countDiagnostics answers SHOW COUNT(*) WARNINGS | ERRORS when sql is one:
// MariaDB names the column @@session.warning_count (or error_count).
func (s *Session) countDiagnostics(sql string) (*sqltypes.Result, bool) {
	m := showCountDiagnostics.FindStringSubmatch(sql)
	if m == nil {
		return nil, false
	}
	errorsOnly := m[1][0] == 'e' || m[1][0] == 'E'
	name := "@@session.warning_count"
	if errorsOnly {
		name = "@@session.error_count"
	}
	s.mu.Lock()
	s.diag.raised = 0
	n := 0
	for _, w := range s.diag.list {
		if !errorsOnly || w.Level == "Error" {
			n++
		}
	}
	s.mu.Unlock()
	return &sqltypes.Result{
		Fields: []*vquerypb.Field{{Name: name, Type: sqltypes.Uint64, ColumnLength: 21, Charset: 63,
			Flags: uint32(vquerypb.MySqlFlag_UNSIGNED_FLAG | vquerypb.MySqlFlag_NUM_FLAG)}},
		Rows: []sqltypes.Row{{sqltypes.NewUint64(uint64(n))}},
	}, true
}

// infoWarnings puts the statement's warning count in its info text
// ("Records: 3  Duplicates: 0  Warnings: 1"), which counts them as the
// OK packet does: a statement split across shards has them all here.
func (s *Session) infoWarnings(res *sqltypes.Result) {
	if res == nil || res.Info == "" {
		return
	}
	i := strings.LastIndex(res.Info, "Warnings: ")
	if i < 0 || i == 1 || (i >= 2 && res.Info[i-2:i] != "  ") {
		return
	}
	res.Info = res.Info[:i] + "Warnings: " + strconv.Itoa(int(s.WarningCount()))
}
