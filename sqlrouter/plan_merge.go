package sqlrouter

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"
	"vitess.io/vitess/go/vt/vtgate/evalengine"
)

// exprEquals compares expressions structurally.
var exprEquals = (&sqlparser.Comparator{}).Expr

// planMerge decides how a read that may span shards combines their
// answers. Constructs the Merge cannot combine yet stay refused when more
// than one shard answers (route.mergeBlocker).
func planMerge(st *planState, route *Route, sel *sqlparser.Select) {
	if blocker := mergeBlocker(sel); blocker != "" {
		route.mergeBlocker = blocker
		return
	}
	exprs := sel.SelectExprs.Exprs
	aggs, aggregating := aggregateKinds(exprs)
	groupBy := sel.GroupBy != nil && len(sel.GroupBy.Exprs) > 0
	aggregating = aggregating || groupBy || containsAggregate(sel.SelectExprs)
	if !aggregating && !sel.Distinct && len(sel.OrderBy) == 0 && sel.Limit == nil {
		return // the shards' rows, concatenated, are the answer
	}
	star := false
	for _, e := range exprs {
		if _, ok := e.(*sqlparser.StarExpr); ok {
			star = true
		}
	}
	if star && aggregating {
		route.mergeBlocker = "SELECT * with GROUP BY or aggregates"
		return
	}

	push := sqlparser.CloneRefOfSelect(sel)
	keepColumnNames(push, st.ctx.SQL)
	m := &Merge{single: route, aggregating: aggregating, distinct: sel.Distinct}
	visible := len(exprs)
	// hide appends a column only the gate uses and returns its position.
	hide := func(e sqlparser.Expr, kind aggKind) int {
		name := fmt.Sprintf("__sg_h%d", m.hidden)
		push.SelectExprs.Exprs = append(push.SelectExprs.Exprs, &sqlparser.AliasedExpr{Expr: e, As: sqlparser.NewIdentifierCI(name)})
		m.hidden++
		aggs = append(aggs, kind)
		return visible + m.hidden - 1
	}
	// AVG is combined from a SUM and a COUNT of its argument per shard.
	addAvg := func(col int, avg *sqlparser.Avg) {
		if m.avgParts == nil {
			m.avgParts = map[int][2]int{}
		}
		sum := hide(&sqlparser.Sum{Arg: avg.Arg}, aggSum)
		count := hide(&sqlparser.Count{Args: []sqlparser.Expr{avg.Arg}}, aggCount)
		m.avgParts[col] = [2]int{sum, count}
	}
	var distinctArg sqlparser.Expr
	for i, se := range exprs {
		ae, ok := se.(*sqlparser.AliasedExpr)
		if !ok {
			continue
		}
		if arg, kind, ok := distinctAggregate(ae.Expr); ok {
			if distinctArg != nil && !exprEquals(distinctArg, arg) {
				route.mergeBlocker = "DISTINCT aggregates of different expressions"
				return
			}
			distinctArg, aggs[i] = arg, kind
			continue
		}
		if avg, ok := ae.Expr.(*sqlparser.Avg); ok {
			addAvg(i, avg)
		}
	}
	if distinctArg != nil {
		// Each shard returns a row per distinct value of the argument in
		// each group; the gate counts or sums the values once.
		m.distinctCol = hide(distinctArg, aggNone)
		if push.GroupBy == nil {
			push.GroupBy = &sqlparser.GroupBy{}
		}
		push.GroupBy.Exprs = append(slices.Clone(push.GroupBy.Exprs), distinctArg)
	}
	// column finds (or adds as a hidden column) what an expression of
	// GROUP BY or ORDER BY refers to.
	column := func(e sqlparser.Expr) colRef {
		if lit, ok := e.(*sqlparser.Literal); ok && lit.Type == sqlparser.IntVal {
			if n, err := strconv.Atoi(lit.Val); err == nil && n >= 1 {
				return colRef{index: n - 1} // ORDER BY 2: the second column
			}
		}
		for i, se := range exprs {
			ae, ok := se.(*sqlparser.AliasedExpr)
			if !ok {
				continue
			}
			col, isCol := e.(*sqlparser.ColName)
			if exprEquals(ae.Expr, e) || isCol && col.Qualifier.IsEmpty() && !ae.As.IsEmpty() && ae.As.Equal(col.Name) {
				if star {
					return colRef{index: -1, name: strings.ToLower(outputName(ae))}
				}
				return colRef{index: i}
			}
		}
		if col, ok := e.(*sqlparser.ColName); ok && star && len(st.tables) == 1 {
			// One table: its columns' names are unique in the result.
			return colRef{index: -1, name: col.Name.Lowered()}
		}
		// A hidden column is grouped or aggregated like a visible one.
		kind, _ := aggregateKind(e)
		if !aggregating {
			kind = aggNone
		}
		col := hide(e, kind)
		if avg, ok := e.(*sqlparser.Avg); ok && aggregating {
			addAvg(col, avg)
		}
		if star {
			return colRef{index: -1, name: fmt.Sprintf("__sg_h%d", col-visible)}
		}
		return colRef{index: col}
	}
	if groupBy {
		for _, g := range sel.GroupBy.Exprs {
			m.groupBy = append(m.groupBy, column(g))
		}
	}
	for _, o := range sel.OrderBy {
		m.orderBy = append(m.orderBy, orderKey{col: column(o.Expr), desc: o.Direction == sqlparser.DescOrder})
	}
	// An expression over aggregates (MAX(x) - MIN(x)) is evaluated on the
	// merged group, from hidden columns holding its aggregates; the
	// shards' own column gives its metadata.
	for i, se := range exprs {
		ae, ok := se.(*sqlparser.AliasedExpr)
		if !ok {
			continue
		}
		if _, direct := aggregateKind(ae.Expr); direct || !containsAggregate(ae.Expr) {
			continue
		}
		expr, err := translateOverMerged(ae.Expr, column)
		if err != nil {
			route.mergeBlocker = "aggregate functions inside expressions (" + sqlparser.String(ae.Expr) + "): " + err.Error()
			return
		}
		if m.computed == nil {
			m.computed = map[int]evalengine.Expr{}
		}
		m.computed[i] = expr
	}
	if sel.Having != nil && aggregating {
		// Groups span shards: HAVING is decided on the merged groups.
		having, err := translateOverMerged(sel.Having.Expr, column)
		if err != nil {
			route.mergeBlocker = "HAVING " + sqlparser.String(sel.Having.Expr) + " (" + err.Error() + ")"
			return
		}
		m.having, m.havingText = having, sqlparser.String(sel.Having.Expr)
		push.Having = nil
	}
	m.aggs = aggs

	if sel.Limit != nil {
		m.limit, m.offset = sel.Limit.Rowcount, sel.Limit.Offset
		if aggregating {
			push.Limit = nil // groups span shards: every shard sends all of its
		} else {
			push.Limit = &sqlparser.Limit{Rowcount: sqlparser.NewArgument(limitBindVar)}
		}
	}
	if aggregating {
		push.OrderBy = nil // the gate sorts the combined groups
	}
	m.route = &Route{Opcode: route.Opcode, Keyspace: route.Keyspace, Vindex: route.Vindex, Values: route.Values,
		inList: route.inList, query: sqlparser.NewParsedQuery(push)}
	st.primitive = m
}

// translateOverMerged rewrites an expression over merged rows (a HAVING
// condition, a select expression of aggregates): each aggregate and column
// in it becomes a reference to a column of the merged row (column adds
// hidden ones as needed), then it is compiled.
func translateOverMerged(cond sqlparser.Expr, column func(sqlparser.Expr) colRef) (evalengine.Expr, error) {
	var failed error
	rewritten := sqlparser.CopyOnRewrite(cond, func(node, _ sqlparser.SQLNode) bool {
		_, isAgg := node.(sqlparser.AggrFunc)
		return !isAgg // aggregates are replaced whole, not entered
	}, func(c *sqlparser.CopyOnWriteCursor) {
		var e sqlparser.Expr
		switch n := c.Node().(type) {
		case sqlparser.AggrFunc:
			if blocker := unsupportedAggregate(n); blocker != "" {
				failed = fmt.Errorf("%s", blocker)
				return
			}
			e = n
		case *sqlparser.ColName:
			e = n
		default:
			return
		}
		ref := column(e)
		if ref.index < 0 {
			failed = fmt.Errorf("cannot locate %s", sqlparser.String(e))
			return
		}
		c.Replace(sqlparser.NewColName(fmt.Sprintf("__sg_c%d", ref.index)))
	}, nil).(sqlparser.Expr)
	if failed != nil {
		return nil, failed
	}
	return evalengine.Translate(rewritten, &evalengine.Config{
		Environment: evalEnv,
		Collation:   collationEnv.DefaultConnectionCharset(),
		ResolveColumn: func(c *sqlparser.ColName) (int, error) {
			var i int
			if _, err := fmt.Sscanf(c.Name.String(), "__sg_c%d", &i); err != nil {
				return 0, fmt.Errorf("unknown column %s in HAVING", c.Name.String())
			}
			return i, nil
		},
	})
}

// mergeBlocker names the first construct of sel the gate cannot yet
// combine across shards.
func mergeBlocker(sel *sqlparser.Select) string {
	switch {
	case sel.GroupBy != nil && sel.GroupBy.WithRollup:
		return "GROUP BY ... WITH ROLLUP"
	case len(sel.Windows) > 0 || containsWindowFunc(sel):
		return "window functions"
	}
	for _, se := range sel.SelectExprs.Exprs {
		ae, ok := se.(*sqlparser.AliasedExpr)
		if !ok {
			continue
		}
		if _, direct := aggregateKind(ae.Expr); direct {
			if blocker := unsupportedAggregate(ae.Expr); blocker != "" {
				return blocker
			}
			continue
		}
		if containsAggregate(ae.Expr) && containsWindowFunc(ae.Expr) {
			return "window functions"
		}
	}
	for _, o := range sel.OrderBy {
		if _, direct := aggregateKind(o.Expr); !direct && containsAggregate(o.Expr) {
			return "ORDER BY an expression of aggregates"
		}
		if blocker := unsupportedAggregate(o.Expr); blocker != "" {
			return blocker
		}
	}
	return ""
}

// containsAggregate reports an aggregate function of this query in node;
// those of subqueries belong to the subqueries.
func containsAggregate(node sqlparser.SQLNode) bool {
	found := false
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch n.(type) {
		case *sqlparser.Subquery, *sqlparser.DerivedTable:
			return false, nil
		case sqlparser.AggrFunc:
			found = true
		}
		return !found, nil
	}, node)
	return found
}

// aggregateKind reports whether e is itself an aggregate function the gate
// combines, and how.
func aggregateKind(e sqlparser.Expr) (aggKind, bool) {
	switch e.(type) {
	case *sqlparser.CountStar, *sqlparser.Count:
		return aggCount, true
	case *sqlparser.Sum:
		return aggSum, true
	case *sqlparser.Min:
		return aggMin, true
	case *sqlparser.Max:
		return aggMax, true
	case *sqlparser.Avg:
		return aggAvg, true
	case sqlparser.AggrFunc:
		return aggNone, true
	}
	return aggNone, false
}

// distinctAggregate recognizes COUNT, SUM and AVG of DISTINCT over one
// expression, returning that expression.
func distinctAggregate(e sqlparser.Expr) (sqlparser.Expr, aggKind, bool) {
	switch a := e.(type) {
	case *sqlparser.Count:
		if a.Distinct && len(a.Args) == 1 {
			return a.Args[0], aggCountDistinct, true
		}
	case *sqlparser.Sum:
		if a.Distinct {
			return a.Arg, aggSumDistinct, true
		}
	case *sqlparser.Avg:
		if a.Distinct {
			return a.Arg, aggAvgDistinct, true
		}
	}
	return nil, aggNone, false
}

// unsupportedAggregate names an aggregate the gate cannot combine yet.
func unsupportedAggregate(e sqlparser.Expr) string {
	switch a := e.(type) {
	case *sqlparser.Count:
		if a.Distinct && len(a.Args) != 1 {
			return "COUNT(DISTINCT) of several expressions"
		}
	case *sqlparser.Min, *sqlparser.Max, *sqlparser.CountStar, *sqlparser.Sum, *sqlparser.Avg:
	case sqlparser.AggrFunc:
		return "aggregate function " + strings.ToUpper(a.AggrName())
	}
	return ""
}

func aggregateKinds(exprs []sqlparser.SelectExpr) ([]aggKind, bool) {
	kinds := make([]aggKind, len(exprs))
	any := false
	for i, se := range exprs {
		if ae, ok := se.(*sqlparser.AliasedExpr); ok {
			if kind, direct := aggregateKind(ae.Expr); direct {
				kinds[i] = kind
				any = true
			}
		}
	}
	return kinds, any
}

// outputName is the column name MySQL gives a select expression.
func outputName(ae *sqlparser.AliasedExpr) string {
	if !ae.As.IsEmpty() {
		return ae.As.String()
	}
	if col, ok := ae.Expr.(*sqlparser.ColName); ok {
		return col.Name.String()
	}
	return sqlparser.String(ae.Expr)
}
