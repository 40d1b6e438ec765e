package sqlrouter

import (
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// planJoin plans a read of two tables of a sharded keyspace that are not
// co-located as a nested-loop Join. It handles INNER and LEFT joins on one
// equality of a left and a right column, select lists and conditions whose
// parts each read one side, and LIMIT; it refuses the rest by name. why is
// the co-location error, returned when the read is not of that shape.
func planJoin(st *planState, sel *sqlparser.Select, why error) error {
	left, right, joinType, on, onIsWhere, err := joinShape(sel)
	if err != nil {
		return why
	}
	refuse := func(what string) error {
		return sqlerr.Unsupported("%s in a join across shards (%s and %s are not joined on their vindex columns)", what, left, right)
	}
	switch {
	case sel.Distinct || sel.GroupBy != nil || sel.Having != nil || containsAggregate(sel.SelectExprs):
		return refuse("DISTINCT, GROUP BY, HAVING or aggregates")
	case len(sel.OrderBy) > 0:
		return refuse("ORDER BY")
	case sel.Limit != nil && sel.Limit.Offset != nil:
		return refuse("LIMIT with an offset")
	case hasSubquery(sel) || sel.With != nil || sel.Lock != sqlparser.NoLock:
		return refuse("subqueries, WITH or locking reads")
	}
	sideOf := func(e sqlparser.Expr) int { return exprSide(e, left, right) }

	// The join key: one equality between a left and a right column.
	var leftKey, rightKey sqlparser.Expr
	var leftConds, rightConds []sqlparser.Expr
	for _, cond := range sqlparser.SplitAndExpression(nil, on) {
		if cmp, ok := cond.(*sqlparser.ComparisonExpr); ok && cmp.Operator == sqlparser.EqualOp && leftKey == nil {
			ls, rs := sideOf(cmp.Left), sideOf(cmp.Right)
			if ls == 0 && rs == 1 {
				leftKey, rightKey = cmp.Left, cmp.Right
				continue
			}
			if ls == 1 && rs == 0 {
				leftKey, rightKey = cmp.Right, cmp.Left
				continue
			}
		}
		switch sideOf(cond) {
		case 0:
			if joinType == sqlparser.LeftJoinType {
				return refuse("a LEFT JOIN condition on the left table alone")
			}
			leftConds = append(leftConds, cond)
		case 1:
			rightConds = append(rightConds, cond)
		default:
			return refuse("join condition " + sqlparser.String(cond))
		}
	}
	if leftKey == nil {
		return refuse("a join without an equality between the two tables' columns")
	}
	if sel.Where != nil && !onIsWhere {
		for _, cond := range sqlparser.SplitAndExpression(nil, sel.Where.Expr) {
			switch side := sideOf(cond); {
			case side == 0:
				leftConds = append(leftConds, cond)
			case side == 1 && joinType != sqlparser.LeftJoinType:
				rightConds = append(rightConds, cond)
			default:
				return refuse("WHERE condition " + sqlparser.String(cond))
			}
		}
	}

	// Each side selects its part of the select list, then its join key.
	keepColumnNames(sel, st.ctx.SQL)
	var leftExprs, rightExprs []sqlparser.SelectExpr
	var cols []joinCol
	for _, se := range sel.SelectExprs.Exprs {
		switch e := se.(type) {
		case *sqlparser.StarExpr:
			q := strings.ToLower(e.TableName.Name.String())
			if q == "" || q == left {
				cols = append(cols, joinCol{side: 0, index: -1 - len(leftExprs)}) // expanded below
				leftExprs = append(leftExprs, &sqlparser.StarExpr{TableName: sqlparser.TableName{Name: sqlparser.NewIdentifierCS(left)}})
			}
			if q == "" || q == right {
				cols = append(cols, joinCol{side: 1, index: -1 - len(rightExprs)})
				rightExprs = append(rightExprs, &sqlparser.StarExpr{TableName: sqlparser.TableName{Name: sqlparser.NewIdentifierCS(right)}})
			}
			if q != "" && q != left && q != right {
				return refuse("select item " + sqlparser.String(e))
			}
		case *sqlparser.AliasedExpr:
			switch sideOf(e.Expr) {
			case 0:
				cols = append(cols, joinCol{side: 0, index: len(leftExprs)})
				leftExprs = append(leftExprs, e)
			case 1:
				cols = append(cols, joinCol{side: 1, index: len(rightExprs)})
				rightExprs = append(rightExprs, e)
			default:
				return refuse("select item " + sqlparser.String(e))
			}
		default:
			return refuse("select item " + sqlparser.String(se))
		}
	}
	for _, c := range cols {
		if c.index < 0 {
			return refuse("SELECT * (name the columns)")
		}
	}

	leftSel := sideSelect(sel, left, leftExprs, leftKey, leftConds)
	rightConds = append(rightConds, &sqlparser.ComparisonExpr{Operator: sqlparser.InOp, Left: rightKey, Right: sqlparser.NewListArg(joinKeysBindVar)})
	rightSel := sideSelect(sel, right, rightExprs, rightKey, rightConds)
	subCtx := st.ctx
	subCtx.SQL = ""
	leftPlan, err := NewPlan(leftSel, subCtx)
	if err != nil {
		return err
	}
	rightPlan, err := NewPlan(rightSel, subCtx)
	if err != nil {
		return err
	}
	j := &Join{left: leftPlan.Primitive, right: rightPlan.Primitive, outer: joinType == sqlparser.LeftJoinType,
		leftKey: len(leftExprs), rightKey: len(rightExprs), cols: cols}
	if sel.Limit != nil {
		j.limit = sel.Limit.Rowcount
	}
	st.primitive = j
	st.needs.LastInsertID = st.needs.LastInsertID || leftPlan.Needs.LastInsertID || rightPlan.Needs.LastInsertID
	st.needs.ConnectionID = st.needs.ConnectionID || leftPlan.Needs.ConnectionID || rightPlan.Needs.ConnectionID
	return nil
}

// joinShape reads "a JOIN b ON ..." (or "a LEFT JOIN b ON/USING", or
// "FROM a, b WHERE ...") into the two aliases, the join type and the
// condition; onIsWhere says the condition is the WHERE clause.
func joinShape(sel *sqlparser.Select) (left, right string, joinType sqlparser.JoinType, on sqlparser.Expr, onIsWhere bool, err error) {
	switch {
	case len(sel.From) == 2:
		left, right = tableAlias(sel.From[0]), tableAlias(sel.From[1])
		joinType = sqlparser.NormalJoinType
		if sel.Where != nil {
			on, onIsWhere = sel.Where.Expr, true
		}
	case len(sel.From) == 1:
		j, ok := sel.From[0].(*sqlparser.JoinTableExpr)
		if !ok {
			return "", "", 0, nil, false, errNotJoin
		}
		left, right = tableAlias(j.LeftExpr), tableAlias(j.RightExpr)
		joinType = j.Join
		if j.Condition != nil {
			on = j.Condition.On
			for _, col := range j.Condition.Using {
				eq := &sqlparser.ComparisonExpr{Operator: sqlparser.EqualOp,
					Left:  sqlparser.NewColNameWithQualifier(col.String(), sqlparser.TableName{Name: sqlparser.NewIdentifierCS(left)}),
					Right: sqlparser.NewColNameWithQualifier(col.String(), sqlparser.TableName{Name: sqlparser.NewIdentifierCS(right)})}
				if on == nil {
					on = eq
				} else {
					on = &sqlparser.AndExpr{Left: on, Right: eq}
				}
			}
		}
	default:
		return "", "", 0, nil, false, errNotJoin
	}
	if left == "" || right == "" || on == nil || (joinType != sqlparser.NormalJoinType && joinType != sqlparser.LeftJoinType) {
		return "", "", 0, nil, false, errNotJoin
	}
	return strings.ToLower(left), strings.ToLower(right), joinType, on, onIsWhere, nil
}

var errNotJoin = sqlerr.Internal("not a two-table join")

// exprSide says which table an expression reads: 0 the left, 1 the right,
// -1 both or neither or unknown (unqualified columns are not guessed).
func exprSide(e sqlparser.Expr, left, right string) int {
	side := -2
	ok := true
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch x := n.(type) {
		case *sqlparser.ColName:
			q := strings.ToLower(x.Qualifier.Name.String())
			s := -1
			if q == left {
				s = 0
			} else if q == right {
				s = 1
			}
			if s < 0 || (side >= 0 && side != s) {
				ok = false
			}
			side = s
		case *sqlparser.Subquery:
			ok = false
		}
		return ok, nil
	}, e)
	if !ok || side < 0 {
		return -1
	}
	return side
}

// sideSelect builds one side's read: its select items, then its join key,
// from its table, under its conditions.
func sideSelect(sel *sqlparser.Select, alias string, exprs []sqlparser.SelectExpr, key sqlparser.Expr, conds []sqlparser.Expr) *sqlparser.Select {
	var table sqlparser.TableExpr
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		if t, ok := n.(*sqlparser.AliasedTableExpr); ok && strings.EqualFold(tableAlias(t), alias) {
			table = sqlparser.CloneRefOfAliasedTableExpr(t)
		}
		return table == nil, nil
	}, sqlparser.TableExprs(sel.From))
	out := &sqlparser.Select{From: []sqlparser.TableExpr{table}, SelectExprs: &sqlparser.SelectExprs{}}
	out.SelectExprs.Exprs = append(append(out.SelectExprs.Exprs, exprs...), &sqlparser.AliasedExpr{Expr: key, As: sqlparser.NewIdentifierCI("__sg_join_key")})
	if len(conds) > 0 {
		out.Where = sqlparser.NewWhere(sqlparser.WhereClause, sqlparser.AndExpressions(conds...))
	}
	return out
}
