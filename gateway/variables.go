package gateway

import (
	"context"
	"strconv"
	"strings"
	"time"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/sqlrouter"
)

// User variables and the system variables the gate keeps.
//
// A shard's connections are pooled and shared by every session, so
// nothing a session sets may stay on one. User variables (SET @x = ...,
// SELECT ... INTO @x) live in the session; a statement that reads @x reads
// a bind variable the planner put in its place (sqlrouter.UserVariableBindVar).
// An expression on the right of SET is evaluated as the session would
// evaluate SELECT <expr>: planned and run like any statement, so it may
// read tables, system variables (with the session's settings applied) and
// other user variables. System variables MariaDB will not take per
// statement (wait_timeout, interactive_timeout) are kept by the gate, and
// so are the values a pooled connection cannot know (autocommit,
// in_transaction, warning_count, tx_isolation): reads of them are answered
// from the session (sqlrouter.SessionVariables).

// Defaults of the variables the gate keeps, as MariaDB's.
const defaultWaitTimeout = 28800

// gateKeptVariables are the session variables MariaDB refuses in SET
// STATEMENT (error 1971) that clients commonly set on connect; the gate
// keeps their values for its own connection.
var gateKeptVariables = map[string]bool{"wait_timeout": true, "interactive_timeout": true}

// variableValue supplies a bind variable of sqlrouter.Needs.Variables.
func (s *Session) variableValue(bindVar string) *querypb.BindVariable {
	if sqlrouter.IsUserVariableBindVar(bindVar) {
		if v, ok := s.userVariables[bindVar]; ok {
			return v
		}
		return sqltypes.NullBindVariable
	}
	name, _ := sqlrouter.SystemVariableOf(bindVar)
	switch name {
	case "autocommit":
		return boolBindVar(s.Autocommit)
	case "in_transaction":
		return boolBindVar(s.InTransaction)
	case "tx_read_only":
		return boolBindVar(s.TxReadOnly)
	case "warning_count":
		return sqltypes.Uint64BindVariable(uint64(s.diag.priorWarnings))
	case "error_count":
		return sqltypes.Uint64BindVariable(uint64(s.diag.priorErrors))
	case "tx_isolation":
		level := "REPEATABLE-READ"
		if s.TxIsolation != "" {
			level = strings.ReplaceAll(s.TxIsolation, " ", "-")
		}
		return sqltypes.StringBindVariable(level)
	case "last_insert_id":
		return sqltypes.Uint64BindVariable(s.LastInsertID)
	case "row_count":
		return sqltypes.Int64BindVariable(s.diag.priorRowCount)
	case "wait_timeout", "interactive_timeout":
		if v, ok := s.gateSettings[name]; ok {
			return sqltypes.Int64BindVariable(v)
		}
		return sqltypes.Int64BindVariable(defaultWaitTimeout)
	}
	return sqltypes.NullBindVariable
}

func boolBindVar(on bool) *querypb.BindVariable {
	if on {
		return sqltypes.Int64BindVariable(1)
	}
	return sqltypes.Int64BindVariable(0)
}

// setUserVariable assigns @name; a NULL value is kept as NULL, as MariaDB
// keeps it.
func (s *Session) setUserVariable(name string, v *querypb.BindVariable) {
	if s.userVariables == nil {
		s.userVariables = map[string]*querypb.BindVariable{}
	}
	s.userVariables[sqlrouter.UserVariableBindVar(name)] = v
}

// evaluate computes an expression in the session: a literal as it is,
// anything else as the value of SELECT <expr>, planned and run as a
// statement of the session.
func (e *Executor) evaluate(ctx context.Context, s *Session, expr sqlparser.Expr) (*querypb.BindVariable, error) {
	switch v := expr.(type) {
	case *sqlparser.NullVal:
		return sqltypes.NullBindVariable, nil
	case *sqlparser.Literal:
		switch v.Type {
		case sqlparser.StrVal:
			return sqltypes.StringBindVariable(v.Val), nil
		case sqlparser.IntVal:
			if n, err := strconv.ParseInt(v.Val, 10, 64); err == nil {
				return sqltypes.Int64BindVariable(n), nil
			}
		}
	}
	sql := "select " + sqlparser.String(expr)
	stmt, err := e.parser.Parse(sql)
	if err != nil {
		return nil, sqlerr.New(sqlerror.ERParseError, sqlerror.SSClientError, "You have an error in your SQL syntax; %s", err.Error())
	}
	plan, err := e.plan(s, stmt, sql)
	if err != nil {
		return nil, err
	}
	res, err := e.executePlan(ctx, s, plan, e.sessionBindVars(s, plan, map[string]*querypb.BindVariable{}))
	if err != nil {
		return nil, sqlerr.From(err)
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
		return nil, sqlerr.New(sqlerror.ERSubqueryNo1Row, sqlerror.SSClientError, "Subquery returns more than 1 row")
	}
	return sqltypes.ValueBindVariable(res.Rows[0][0]), nil
}

// literalOf renders a value as the SQL literal SET takes.
func literalOf(v *querypb.BindVariable) sqlparser.Expr {
	value, err := sqltypes.BindVariableToValue(v)
	switch {
	case err != nil || value.IsNull():
		return &sqlparser.NullVal{}
	case value.IsIntegral():
		return sqlparser.NewIntLiteral(value.ToString())
	case value.IsFloat() || value.IsDecimal():
		return sqlparser.NewDecimalLiteral(value.ToString())
	}
	return sqlparser.NewStrLiteral(value.ToString())
}

// setGateKept assigns a variable of gateKeptVariables. MariaDB takes 1 to
// 31536000 seconds and clamps what lies outside.
func (s *Session) setGateKept(name string, value sqlparser.Expr) error {
	if _, isDefault := value.(*sqlparser.Default); isDefault {
		delete(s.gateSettings, name)
		if name == "wait_timeout" && s.idleTimeout != nil {
			s.idleTimeout(defaultWaitTimeout * time.Second)
		}
		return nil
	}
	lit, ok := value.(*sqlparser.Literal)
	if !ok || lit.Type != sqlparser.IntVal {
		return sqlerr.New(sqlerror.ERWrongTypeForVar, sqlerror.SSClientError, "Incorrect argument type to variable '%s'", name)
	}
	n, err := strconv.ParseInt(lit.Val, 10, 64)
	if err != nil || n > 31536000 {
		n = 31536000
	}
	if n < 1 {
		n = 1
	}
	if s.gateSettings == nil {
		s.gateSettings = map[string]int64{}
	}
	s.gateSettings[name] = n
	if name == "wait_timeout" && s.idleTimeout != nil {
		// The gate closes its client connection when idle this long, as
		// MariaDB would.
		s.idleTimeout(time.Duration(n) * time.Second)
	}
	return nil
}

// selectIntoVariables runs SELECT ... INTO @a, @b: the SELECT as any other,
// its one row assigned to the variables, as MariaDB assigns them.
func (e *Executor) selectIntoVariables(ctx context.Context, s *Session, sel *sqlparser.Select, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	vars := sel.Into.VarList
	sel = sqlparser.CloneRefOfSelect(sel)
	sel.Into = nil
	sql := sqlparser.String(sel)
	plan, err := e.plan(s, sel, sql)
	if err != nil {
		return nil, err
	}
	res, err := e.executePlan(ctx, s, plan, e.sessionBindVars(s, plan, bv))
	if err != nil {
		return nil, sqlerr.From(err)
	}
	switch {
	case len(res.Fields) != len(vars):
		return nil, sqlerr.New(sqlerror.ERWrongNumberOfColumnsInSelect, sqlerror.SSWrongNumberOfColumns, "The used SELECT statements have a different number of columns")
	case len(res.Rows) > 1:
		return nil, sqlerr.New(sqlerror.ERTooManyRows, sqlerror.SSClientError, "Result consisted of more than one row")
	case len(res.Rows) == 0:
		s.noteWarning("Warning", erSPFetchNoData, "No data - zero rows fetched, selected, or processed")
		return &sqltypes.Result{}, nil
	}
	for i, v := range vars {
		s.setUserVariable(v.Name.String(), sqltypes.ValueBindVariable(res.Rows[0][i]))
	}
	return &sqltypes.Result{RowsAffected: 1}, nil
}

// erSPFetchNoData is MariaDB's ER_SP_FETCH_NO_DATA.
const erSPFetchNoData = 1329
