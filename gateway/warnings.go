package gateway

import (
	"regexp"
	"strconv"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
)

// A session's diagnostics area, as MariaDB keeps one per connection: the
// warnings the last statement raised on any shard (each tablet reads them
// with SHOW WARNINGS on the connection that ran the statement), or the
// error it failed with. Statements that read diagnostics (SHOW WARNINGS,
// SHOW ERRORS, SHOW COUNT(*) ...) leave them as they are; every other
// statement starts afresh.

// maxWarnings is MariaDB's default max_error_count: a statement keeps at
// most this many, though the count reports them all.
const maxWarnings = 64

// startDiagnostics begins a statement (nil: one that did not parse): it
// clears the diagnostics unless the statement reads them, and returns
// what records the statement's error when it ends.
func (s *Session) startDiagnostics(stmt sqlparser.Statement) (end func(error)) {
	reads := stmt != nil && readsDiagnostics(stmt)
	s.mu.Lock()
	s.readingDiagnostics = reads
	s.priorWarnings, s.priorErrors = len(s.warnings), 0
	for _, w := range s.warnings {
		if w.Level == "Error" {
			s.priorErrors++
		}
	}
	if !reads {
		s.warnings = s.warnings[:0]
	}
	s.mu.Unlock()
	return func(err error) {
		if err != nil && !reads {
			s.noteError(err)
		}
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
		if len(s.warnings) >= maxWarnings {
			return
		}
		s.warnings = append(s.warnings, Warning{Level: w.Level, Code: uint16(w.Code), Message: string(w.Message)})
	}
}

// noteWarning adds a warning the gate raises itself.
func (s *Session) noteWarning(level string, code uint16, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.warnings) < maxWarnings {
		s.warnings = append(s.warnings, Warning{Level: level, Code: code, Message: message})
	}
}

// noteError records the error a statement failed with, which SHOW
// WARNINGS and SHOW ERRORS list after the warnings it raised before.
func (s *Session) noteError(err error) {
	se := sqlerr.From(err)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.warnings) >= maxWarnings {
		s.warnings = s.warnings[:maxWarnings-1]
	}
	s.warnings = append(s.warnings, Warning{Level: "Error", Code: uint16(se.Num), Message: se.Message})
}

// readsDiagnostics reports statements that read the diagnostics area
// rather than replace it.
func readsDiagnostics(stmt sqlparser.Statement) bool {
	show, ok := stmt.(*sqlparser.Show)
	if !ok {
		return false
	}
	basic, ok := show.Internal.(*sqlparser.ShowBasic)
	return ok && (basic.Command == sqlparser.Warnings || basic.Command == sqlparser.Errors)
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
	for _, w := range s.warnings {
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
	s.readingDiagnostics = true
	n := 0
	for _, w := range s.warnings {
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
