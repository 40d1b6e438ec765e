package gateway

import (
	"errors"
	"testing"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
)

func TestDiagnosticsArea(t *testing.T) {
	parser, err := sqlparser.New(sqlparser.Options{MySQLServerVersion: "8.0.40"})
	if err != nil {
		t.Fatal(err)
	}
	parse := func(sql string) sqlparser.Statement {
		stmt, err := parser.Parse(sql)
		if err != nil {
			t.Fatal(err)
		}
		return stmt
	}
	s := NewSession(1, "root")
	end := s.startDiagnostics(parse("select 1"))
	s.noteWarnings([]*querypb.Warning{{Level: "Warning", Code: 1292, Message: []byte("a")}, {Level: "Note", Code: 1051, Message: []byte("b")}})
	end(nil, nil)
	if s.WarningCount() != 2 {
		t.Fatalf("warning count %d, want 2", s.WarningCount())
	}

	show := parse("show warnings limit 1, 5").(*sqlparser.Show).Internal.(*sqlparser.ShowBasic)
	s.startDiagnostics(parse("show warnings limit 1, 5"))(nil, nil)
	res, err := s.showWarnings(false, show.Limit)
	if err != nil || len(res.Rows) != 1 || res.Rows[0][2].ToString() != "b" {
		t.Fatalf("SHOW WARNINGS LIMIT 1, 5 = %v, %v; want the second warning", res, err)
	}
	if s.WarningCount() != 0 {
		t.Errorf("SHOW WARNINGS reported %d warnings of its own, want 0", s.WarningCount())
	}
	if res, ok := s.countDiagnostics("SHOW COUNT(*) WARNINGS"); !ok || res.Rows[0][0].ToString() != "2" {
		t.Errorf("SHOW COUNT(*) WARNINGS = %v, %v; want 2", res, ok)
	}

	// A failed statement replaces them with its error.
	s.startDiagnostics(parse("select 2"))(nil, sqlerr.New(1146, "42S02", "Table 'ks.x' doesn't exist"))
	res, _ = s.showWarnings(true, nil)
	if len(res.Rows) != 1 || res.Rows[0][1].ToString() != "1146" {
		t.Errorf("SHOW ERRORS = %v, want the 1146", res.Rows)
	}
	if res, _ := s.countDiagnostics("show count(*) errors"); res.Rows[0][0].ToString() != "1" {
		t.Errorf("SHOW COUNT(*) ERRORS = %v, want 1", res.Rows)
	}
	// Errors that are not MySQL errors are reported as 1105.
	s.startDiagnostics(nil)(nil, errors.New("boom"))
	if res, _ := s.showWarnings(true, nil); len(res.Rows) != 1 || res.Rows[0][1].ToString() != "1105" {
		t.Errorf("SHOW ERRORS after a plain error = %v", res.Rows)
	}
}
