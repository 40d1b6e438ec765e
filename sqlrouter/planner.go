package sqlrouter

import (
	"fmt"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/sqlrouter/vschema"
)

// PlanContext is what planning depends on besides the statement.
type PlanContext struct {
	VSchema *vschema.VSchema
	// Keyspace is the session's current keyspace ("" when none is selected).
	Keyspace string
	// SQL is the statement's original text. Plans send it unchanged to the
	// shard when no rewriting is needed, which keeps the client's comments
	// and formatting and saves regenerating the text.
	SQL string
	// ServerVersion and VersionComment answer @@version and
	// @@version_comment at the gate.
	ServerVersion, VersionComment string
	// Schema knows the tables' columns, for statements the gate evaluates
	// itself; nil refuses those.
	Schema Schema
}

// planState is what the passes share while planning one statement.
type planState struct {
	ctx  PlanContext
	stmt sqlparser.Statement

	// Filled by bindLimitParams: the placeholders of LIMIT and OFFSET.
	limitParams []string

	// Filled by resolveTables:
	keyspace *vschema.Keyspace // the one keyspace every table belongs to; nil if none
	tables   []tableRef        // every table the statement names
	system   bool              // only system schemas (information_schema, ...)

	// Filled by extractSubqueries and rewriteGateFunctions:
	rewritten  bool
	needs      Needs
	subqueries []subquery

	// Filled by findReturning: " returning <list>" of an INSERT, REPLACE
	// or DELETE that ends in MariaDB's RETURNING clause.
	returning string

	// Filled by chooseRoute:
	primitive     Primitive
	routeKeyspace string
}

// tableRef is one table named in a statement.
type tableRef struct {
	name  sqlparser.TableName
	alias string         // the name it is referred to by in the statement
	table *vschema.Table // nil in unsharded keyspaces when not in the vschema
}

// pass is one step of planning.
type pass struct {
	name string
	run  func(*planState) error
}

// passes is the planner, in order. (A function, not a variable, because
// extracting subqueries plans them with the same passes.)
func passes() []pass {
	return []pass{
		{"bind LIMIT parameters", bindLimitParams},       // limit_params.go
		{"inline CTEs", inlineCTEs},                      // inline_ctes.go
		{"extract subqueries", extractSubqueries},        // extract_subqueries.go
		{"resolve tables", resolveTables},                // resolve_tables.go
		{"rewrite gate functions", rewriteGateFunctions}, // rewrite_gate_functions.go
		{"find RETURNING", findReturning},                // returning.go
		{"choose route", chooseRoute},                    // choose_route.go
	}
}

// NewPlan plans a parsed statement. The statement must not be modified by
// the caller afterwards: the plan keeps parts of it.
//
// Statements about a table's definition (DESCRIBE, SHOW COLUMNS, SHOW
// INDEX) and EXPLAIN of another statement, whose plan it is about, are
// planned apart from the passes (describe.go, explain.go).
func NewPlan(stmt sqlparser.Statement, ctx PlanContext) (*Plan, error) {
	switch s := stmt.(type) {
	case *sqlparser.ExplainTab, *sqlparser.Show:
		return planDescribe(stmt, ctx)
	case *sqlparser.ExplainStmt:
		return planExplain(s, ctx)
	}
	st := &planState{ctx: ctx, stmt: stmt}
	for _, p := range passes() {
		if err := p.run(st); err != nil {
			return nil, err
		}
	}
	if st.primitive == nil {
		return nil, fmt.Errorf("planner produced no plan for %T", stmt)
	}
	if len(st.subqueries) > 0 {
		st.primitive = &Subqueries{subqueries: st.subqueries, outer: st.primitive}
	}
	plan := &Plan{Type: sqlparser.ASTToStatementType(stmt), Keyspace: st.routeKeyspace, Primitive: st.primitive, Needs: st.needs, limitParams: st.limitParams}
	if sel, ok := stmt.(*sqlparser.Select); ok && sel.SQLCalcFoundRows {
		if err := planFoundRows(plan, sel, ctx); err != nil {
			return nil, err
		}
	}
	return plan, nil
}
