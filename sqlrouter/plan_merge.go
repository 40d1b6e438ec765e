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
// answers, and builds the Merge that does: the shards run a rewritten
// statement (hidden columns for what the gate needs, per-shard partial
// aggregates, a LIMIT of offset+count), and primitives above its route
// aggregate, compute, filter by HAVING, remove duplicates, sort and limit.
// Constructs the merge cannot combine yet stay refused when more than one
// shard answers (route.mergeBlocker).
func planMerge(st *planState, route *Route, sel *sqlparser.Select) {
	if blocker := mergeBlocker(sel); blocker != "" {
		route.mergeBlocker = blocker
		return
	}
	m := newMergePlanner(st, route, sel)
	if !m.aggregating && !sel.Distinct && len(sel.OrderBy) == 0 && sel.Limit == nil {
		return // the shards' rows, concatenated, are the answer
	}
	if m.star && m.aggregating {
		route.mergeBlocker = "SELECT * with GROUP BY or aggregates"
		return
	}
	for _, step := range []func() string{m.planAggregates, m.planGroupAndOrder, m.planComputed, m.planHaving} {
		if blocker := step(); blocker != "" {
			route.mergeBlocker = blocker
			return
		}
	}
	m.pushLimit()
	st.primitive = m.build()
}

// mergePlanner holds what planning one Merge found.
type mergePlanner struct {
	st    *planState
	route *Route
	sel   *sqlparser.Select
	exprs []sqlparser.SelectExpr
	star  bool
	// push is the statement the shards run: the client's, rewritten.
	push        *sqlparser.Select
	aggregating bool
	visible     int
	hidden      int
	// ops are how each column (visible, then hidden) combines.
	ops []aggOp
	// avgParts gives, for each AVG column, its hidden SUM and COUNT columns.
	avgParts map[int][2]int
	// distinctCol is the hidden column holding the argument of the
	// DISTINCT aggregates; the shards group by it too.
	distinctCol int
	groupBy     []colRef
	orderBy     []orderKey
	// computed are select columns evaluated on the merged groups.
	computed map[int]*gateExpr
	having   *gateExpr
}

func newMergePlanner(st *planState, route *Route, sel *sqlparser.Select) *mergePlanner {
	exprs := sel.SelectExprs.Exprs
	ops, aggregating := aggregateKinds(exprs)
	groupBy := sel.GroupBy != nil && len(sel.GroupBy.Exprs) > 0
	m := &mergePlanner{st: st, route: route, sel: sel, exprs: exprs, ops: ops, visible: len(exprs),
		aggregating: aggregating || groupBy || containsAggregate(sel.SelectExprs)}
	for _, e := range exprs {
		if _, ok := e.(*sqlparser.StarExpr); ok {
			m.star = true
		}
	}
	m.push = sqlparser.CloneRefOfSelect(sel)
	keepColumnNames(m.push, st.ctx.SQL)
	return m
}

// hide appends a column only the gate uses and returns its position.
func (m *mergePlanner) hide(e sqlparser.Expr, op aggOp) int {
	name := fmt.Sprintf("__sg_h%d", m.hidden)
	m.push.SelectExprs.Exprs = append(m.push.SelectExprs.Exprs, &sqlparser.AliasedExpr{Expr: e, As: sqlparser.NewIdentifierCI(name)})
	m.hidden++
	m.ops = append(m.ops, op)
	return m.visible + m.hidden - 1
}

// addAvg has the shards send a SUM and a COUNT of an AVG's argument, which
// the gate combines.
func (m *mergePlanner) addAvg(col int, avg *sqlparser.Avg) {
	if m.avgParts == nil {
		m.avgParts = map[int][2]int{}
	}
	sum := m.hide(&sqlparser.Sum{Arg: avg.Arg}, aggSumPartial)
	count := m.hide(&sqlparser.Count{Args: []sqlparser.Expr{avg.Arg}}, aggSumOfCounts)
	m.avgParts[col] = [2]int{sum, count}
}

// planAggregates plans the select list's AVG and DISTINCT aggregates.
func (m *mergePlanner) planAggregates() string {
	var distinctArg sqlparser.Expr
	for i, se := range m.exprs {
		ae, ok := se.(*sqlparser.AliasedExpr)
		if !ok {
			continue
		}
		if arg, op, ok := distinctAggregate(ae.Expr); ok {
			if distinctArg != nil && !exprEquals(distinctArg, arg) {
				return "DISTINCT aggregates of different expressions"
			}
			distinctArg, m.ops[i] = arg, op
			continue
		}
		if avg, ok := ae.Expr.(*sqlparser.Avg); ok {
			m.addAvg(i, avg)
		}
	}
	if distinctArg != nil {
		// Each shard returns a row per distinct value of the argument in
		// each group; the gate counts or sums the values once.
		m.distinctCol = m.hide(distinctArg, aggAnyValue)
		if m.push.GroupBy == nil {
			m.push.GroupBy = &sqlparser.GroupBy{}
		}
		m.push.GroupBy.Exprs = append(slices.Clone(m.push.GroupBy.Exprs), distinctArg)
	}
	return ""
}

// column finds (or adds as a hidden column) what an expression of GROUP
// BY, ORDER BY or HAVING refers to.
func (m *mergePlanner) column(e sqlparser.Expr) colRef {
	if lit, ok := e.(*sqlparser.Literal); ok && lit.Type == sqlparser.IntVal {
		if n, err := strconv.Atoi(lit.Val); err == nil && n >= 1 {
			return colRef{index: n - 1} // ORDER BY 2: the second column
		}
	}
	for i, se := range m.exprs {
		ae, ok := se.(*sqlparser.AliasedExpr)
		if !ok {
			continue
		}
		col, isCol := e.(*sqlparser.ColName)
		if exprEquals(ae.Expr, e) || isCol && col.Qualifier.IsEmpty() && !ae.As.IsEmpty() && ae.As.Equal(col.Name) {
			if m.star {
				return colRef{index: -1, name: strings.ToLower(outputName(ae))}
			}
			return colRef{index: i}
		}
	}
	if col, ok := e.(*sqlparser.ColName); ok && m.star && len(m.st.tables) == 1 {
		// One table: its columns' names are unique in the result.
		return colRef{index: -1, name: col.Name.Lowered()}
	}
	// A hidden column is grouped or aggregated like a visible one.
	op, _ := aggregateKind(e)
	if !m.aggregating {
		op = aggAnyValue
	}
	col := m.hide(e, op)
	if avg, ok := e.(*sqlparser.Avg); ok && m.aggregating {
		m.addAvg(col, avg)
	}
	if m.star {
		return colRef{index: -1, name: fmt.Sprintf("__sg_h%d", col-m.visible)}
	}
	return colRef{index: col}
}

// planGroupAndOrder finds the columns of GROUP BY and ORDER BY.
func (m *mergePlanner) planGroupAndOrder() string {
	if m.sel.GroupBy != nil {
		for _, g := range m.sel.GroupBy.Exprs {
			m.groupBy = append(m.groupBy, m.column(g))
		}
	}
	for _, o := range m.sel.OrderBy {
		m.orderBy = append(m.orderBy, orderKey{col: m.column(o.Expr), desc: o.Direction == sqlparser.DescOrder})
	}
	return ""
}

// planComputed plans the select expressions over aggregates (MAX(x) -
// MIN(x)): evaluated on the merged group, from hidden columns holding its
// aggregates; the shards' own column gives its metadata.
func (m *mergePlanner) planComputed() string {
	for i, se := range m.exprs {
		ae, ok := se.(*sqlparser.AliasedExpr)
		if !ok {
			continue
		}
		if _, direct := aggregateKind(ae.Expr); direct || !containsAggregate(ae.Expr) {
			continue
		}
		expr, err := translateOverMerged(ae.Expr, m.column)
		if err != nil {
			return "aggregate functions inside expressions (" + sqlparser.String(ae.Expr) + "): " + err.Error()
		}
		if m.computed == nil {
			m.computed = map[int]*gateExpr{}
		}
		m.computed[i] = &gateExpr{ast: ae.Expr, fixed: expr}
	}
	return ""
}

// planHaving plans HAVING: groups span shards, so it is decided on the
// merged groups.
func (m *mergePlanner) planHaving() string {
	if m.sel.Having == nil || !m.aggregating {
		return ""
	}
	having, err := translateOverMerged(m.sel.Having.Expr, m.column)
	if err != nil {
		return "HAVING " + sqlparser.String(m.sel.Having.Expr) + " (" + err.Error() + ")"
	}
	m.having = &gateExpr{ast: m.sel.Having.Expr, fixed: having}
	m.push.Having = nil
	return ""
}

// pushLimit rewrites the shards' LIMIT and ORDER BY: without aggregates
// each shard sends its first offset+count rows, sorted; with them every
// group (groups span shards), which the gate sorts.
func (m *mergePlanner) pushLimit() {
	if m.sel.Limit != nil {
		if m.aggregating {
			m.push.Limit = nil
		} else {
			m.push.Limit = &sqlparser.Limit{Rowcount: sqlparser.NewArgument(limitBindVar)}
		}
	}
	if m.aggregating {
		m.push.OrderBy = nil
	}
}

// build composes the Merge: the rewritten statement's route, then each
// step the read needs, in SQL's order.
func (m *mergePlanner) build() *Merge {
	r := m.route
	leaf := &Route{Opcode: r.Opcode, Keyspace: r.Keyspace, Vindex: r.Vindex, Values: r.Values,
		inList: r.inList, query: sqlparser.NewParsedQuery(m.push), merged: true}
	merge := &Merge{single: r, route: leaf, hidden: m.hidden}
	var p Primitive = leaf
	if m.aggregating {
		p = m.aggregate(p)
		merge.steps = append(merge.steps, "aggregate")
	}
	if len(m.computed) > 0 {
		p = m.project(p)
		merge.steps = append(merge.steps, "compute")
	}
	if m.having != nil {
		p = &Filter{input: p, cond: m.having, label: "having"}
		merge.steps = append(merge.steps, "having")
	}
	if m.sel.Distinct {
		p = &Distinct{input: p, hidden: m.hidden}
		merge.steps = append(merge.steps, "distinct")
	}
	if len(m.orderBy) > 0 {
		p = &Sort{input: p, keys: m.orderBy}
		merge.steps = append(merge.steps, "sort")
	}
	if lim := m.sel.Limit; lim != nil {
		p = &Limit{input: p, count: lim.Rowcount, offset: lim.Offset}
		merge.steps = append(merge.steps, "limit")
		merge.pushLimit, merge.limit, merge.offset = !m.aggregating, lim.Rowcount, lim.Offset
	}
	merge.input = p
	return merge
}

// aggregate combines the shards' partial aggregates of each group: one
// aggregate per column, visible and hidden.
func (m *mergePlanner) aggregate(input Primitive) *Aggregate {
	agg := &Aggregate{input: input, partial: true}
	for _, g := range m.groupBy {
		agg.keys = append(agg.keys, &gateExpr{ast: newOffset(g.index)})
	}
	if len(m.groupBy) > 0 && len(m.orderBy) == 0 {
		for _, g := range m.groupBy {
			agg.sortKeys = append(agg.sortKeys, g.index)
		}
	}
	for col, op := range m.ops {
		a := &aggregate{op: op, argField: col, args: []*gateExpr{{ast: newOffset(col)}}}
		switch {
		case op == aggAvgOfParts:
			parts := m.avgParts[col]
			a.args = []*gateExpr{{ast: newOffset(parts[0])}, {ast: newOffset(parts[1])}}
		case op >= aggCountDistinctValues:
			a.args = []*gateExpr{{ast: newOffset(m.distinctCol)}}
		}
		agg.aggs = append(agg.aggs, a)
	}
	return agg
}

// project computes the columns that are expressions over aggregates, in
// place.
func (m *mergePlanner) project(input Primitive) *Project {
	width := m.visible + m.hidden
	p := &Project{input: input, exprs: make([]*gateExpr, width), render: make([]render, width), fieldOf: make([]int, width)}
	for i := range width {
		p.fieldOf[i] = i
		if e, ok := m.computed[i]; ok {
			p.exprs[i], p.render[i] = e, renderScale
			continue
		}
		p.exprs[i] = &gateExpr{ast: newOffset(i)}
	}
	return p
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
	return translate(rewritten, &evalengine.Config{
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
// combines, and how it combines the shards' partial results.
func aggregateKind(e sqlparser.Expr) (aggOp, bool) {
	switch e.(type) {
	case *sqlparser.CountStar, *sqlparser.Count:
		return aggSumOfCounts, true
	case *sqlparser.Sum:
		return aggSumPartial, true
	case *sqlparser.Min:
		return aggMinPartial, true
	case *sqlparser.Max:
		return aggMaxPartial, true
	case *sqlparser.Avg:
		return aggAvgOfParts, true
	case sqlparser.AggrFunc:
		return aggAnyValue, true
	}
	return aggAnyValue, false
}

// distinctAggregate recognizes COUNT, SUM and AVG of DISTINCT over one
// expression, returning that expression.
func distinctAggregate(e sqlparser.Expr) (sqlparser.Expr, aggOp, bool) {
	switch a := e.(type) {
	case *sqlparser.Count:
		if a.Distinct && len(a.Args) == 1 {
			return a.Args[0], aggCountDistinctValues, true
		}
	case *sqlparser.Sum:
		if a.Distinct {
			return a.Arg, aggSumDistinctValues, true
		}
	case *sqlparser.Avg:
		if a.Distinct {
			return a.Arg, aggAvgDistinctValues, true
		}
	}
	return nil, aggAnyValue, false
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

func aggregateKinds(exprs []sqlparser.SelectExpr) ([]aggOp, bool) {
	kinds := make([]aggOp, len(exprs))
	any := false
	for i, se := range exprs {
		kinds[i] = aggAnyValue
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
