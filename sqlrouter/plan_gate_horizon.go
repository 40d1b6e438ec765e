package sqlrouter

import (
	"slices"
	"strconv"
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// planHorizon plans what the gate computes over the joined rows (from),
// as primitives over it, in SQL's order: grouping and aggregates
// (Aggregate), HAVING (Filter), the select list (Project), DISTINCT, ORDER
// BY (Sort) and LIMIT, under a GateSelect that drops the sort keys.
func (p *gatePlanner) planHorizon(from Primitive) (*GateSelect, error) {
	h := &horizon{p: p, sel: p.sel}
	for _, step := range []func() error{h.selectList, h.groupAndHaving, h.scope, h.planOutputs, h.planHaving, h.planOrder} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return h.build(from)
}

// horizon holds what planning the horizon of one gate-evaluated SELECT
// found.
type horizon struct {
	p   *gatePlanner
	sel *sqlparser.Select
	// items is the select list with * expanded into the columns it stands
	// for; aliases their lower-cased output names, for references by alias.
	items   []sqlparser.Expr
	aliases []string
	groupBy []sqlparser.Expr
	having  sqlparser.Expr

	aggregating bool
	// overRows translates an expression into one over the rows the select
	// list is computed over: the joined rows, or, when grouping, one row
	// per group (group translates then).
	overRows func(sqlparser.Expr) (*gateExpr, error)
	group    *groupPlanner
	keys     []*gateExpr // over joined rows

	// outputs are over group rows when aggregating, else joined rows;
	// direct marks those that are a column sent as read.
	outputs    []*gateExpr
	direct     []bool
	havingExpr *gateExpr
	order      []gateOrder
}

// gateOrder is an ORDER BY key: an output column, or an expression
// computed for sorting only.
type gateOrder struct {
	output int // -1: expr
	expr   *gateExpr
	desc   bool
}

// selectList expands the select list.
func (h *horizon) selectList() error {
	for _, se := range h.sel.SelectExprs.Exprs {
		switch e := se.(type) {
		case *sqlparser.StarExpr:
			cols, names, err := h.p.starColumns(e)
			if err != nil {
				return err
			}
			for i, col := range cols {
				h.items = append(h.items, col)
				h.aliases = append(h.aliases, strings.ToLower(names[i]))
			}
		case *sqlparser.AliasedExpr:
			h.items = append(h.items, e.Expr)
			h.aliases = append(h.aliases, strings.ToLower(outputName(e)))
		default:
			return h.p.refuse("select item %s across shards", sqlparser.String(se))
		}
	}
	return nil
}

// aliasOf resolves an unqualified name that is no column of the tables to
// the select item it names.
func (h *horizon) aliasOf(e sqlparser.Expr) (int, bool) {
	c, ok := e.(*sqlparser.ColName)
	if !ok || !c.Qualifier.IsEmpty() {
		return 0, false
	}
	if _, _, found, _ := h.p.lookup(c); found {
		return 0, false
	}
	for i, a := range h.aliases {
		if a == c.Name.Lowered() {
			return i, true
		}
	}
	return 0, false
}

// position resolves a select list position (GROUP BY 2).
func (h *horizon) position(e sqlparser.Expr, clause string) (int, bool, error) {
	lit, ok := e.(*sqlparser.Literal)
	if !ok || lit.Type != sqlparser.IntVal {
		return 0, false, nil
	}
	n, err := strconv.Atoi(lit.Val)
	if err != nil || n < 1 || n > len(h.items) {
		return 0, false, sqlerr.New(sqlerror.ERBadFieldError, sqlerror.SSBadFieldError, "Unknown column '%s' in '%s'", lit.Val, clause)
	}
	return n - 1, true, nil
}

// substituteAliases replaces references to select aliases (HAVING may use
// them) by the items they name.
func (h *horizon) substituteAliases(e sqlparser.Expr) sqlparser.Expr {
	return sqlparser.CopyOnRewrite(e, func(node, _ sqlparser.SQLNode) bool {
		_, sub := node.(*sqlparser.Subquery)
		return !sub
	}, func(c *sqlparser.CopyOnWriteCursor) {
		if col, ok := c.Node().(*sqlparser.ColName); ok {
			if i, ok := h.aliasOf(col); ok {
				c.Replace(sqlparser.CloneExpr(h.items[i]))
			}
		}
	}, nil).(sqlparser.Expr)
}

// groupAndHaving resolves GROUP BY's positions and aliases and HAVING's
// aliases, and decides whether the query aggregates.
func (h *horizon) groupAndHaving() error {
	if h.sel.GroupBy != nil {
		for _, g := range h.sel.GroupBy.Exprs {
			if i, ok, err := h.position(g, "group statement"); err != nil {
				return err
			} else if ok {
				h.groupBy = append(h.groupBy, h.items[i])
				continue
			}
			if i, ok := h.aliasOf(g); ok {
				h.groupBy = append(h.groupBy, h.items[i])
				continue
			}
			h.groupBy = append(h.groupBy, g)
		}
	}
	if h.sel.Having != nil {
		h.having = h.substituteAliases(h.sel.Having.Expr)
	}
	h.aggregating = len(h.groupBy) > 0 || containsAggregate(h.sel.SelectExprs) || (h.having != nil && containsAggregate(h.having))
	for _, o := range h.sel.OrderBy {
		h.aggregating = h.aggregating || containsAggregate(o.Expr)
	}
	return nil
}

// scope sets up the rows the select list is computed over.
func (h *horizon) scope() error {
	p := h.p
	if !h.aggregating {
		h.overRows = func(e sqlparser.Expr) (*gateExpr, error) { return p.b.toGateExpr(e, p) }
		return nil
	}
	g := &groupPlanner{p: p}
	for _, k := range h.groupBy {
		ge, err := p.b.toGateExpr(k, p)
		if err != nil {
			return err
		}
		if len(ge.applies) > 0 {
			return p.refuse("correlated subqueries in GROUP BY across shards")
		}
		h.keys = append(h.keys, ge)
		g.keys = append(g.keys, k)
	}
	if err := g.checkAggregates(h.sel); err != nil {
		return err
	}
	// The aggregates are added as the expressions over groups are
	// translated.
	h.group, h.overRows = g, g.overGroups
	return nil
}

// planOutputs translates the select list.
func (h *horizon) planOutputs() error {
	for _, it := range h.items {
		ge, err := h.overRows(it)
		if err != nil {
			return err
		}
		// A column sent as read keeps its text; computed values are
		// rendered as MySQL renders the result column.
		_, direct := ge.ast.(*sqlparser.Offset)
		if h.aggregating {
			direct = h.group.isDirect(ge)
		}
		h.outputs = append(h.outputs, ge)
		h.direct = append(h.direct, direct)
	}
	return nil
}

func (h *horizon) planHaving() error {
	if h.having == nil {
		return nil
	}
	ge, err := h.overRows(h.having)
	h.havingExpr = ge
	return err
}

// planOrder resolves ORDER BY keys to output columns where they name one
// (by position, alias or equal expression), else to expressions computed
// for sorting.
func (h *horizon) planOrder() error {
	for _, o := range h.sel.OrderBy {
		desc := o.Direction == sqlparser.DescOrder
		if i, ok, err := h.position(o.Expr, "order clause"); err != nil {
			return err
		} else if ok {
			h.order = append(h.order, gateOrder{output: i, desc: desc})
			continue
		}
		// ORDER BY looks at the select list's names first.
		if c, ok := o.Expr.(*sqlparser.ColName); ok && c.Qualifier.IsEmpty() {
			if i := slices.Index(h.aliases, c.Name.Lowered()); i >= 0 {
				h.order = append(h.order, gateOrder{output: i, desc: desc})
				continue
			}
		}
		if i := slices.IndexFunc(h.items, func(it sqlparser.Expr) bool { return exprEquals(it, o.Expr) }); i >= 0 {
			h.order = append(h.order, gateOrder{output: i, desc: desc})
			continue
		}
		ge, err := h.overRows(o.Expr)
		if err != nil {
			return err
		}
		h.order = append(h.order, gateOrder{output: -1, expr: ge, desc: desc})
	}
	return nil
}

// build composes the primitives over from.
func (h *horizon) build(from Primitive) (*GateSelect, error) {
	in := from
	if h.aggregating {
		agg := &Aggregate{input: in, keys: h.keys, keysOut: true, aggs: h.group.slots}
		for i := range h.keys {
			agg.sortKeys = append(agg.sortKeys, i)
		}
		in = agg
	}
	if h.havingExpr != nil {
		in = &Filter{input: in, cond: h.havingExpr, label: "having"}
	}
	// Project: the outputs, then the sort keys that are no output.
	width := len(h.outputs)
	proj := &Project{input: in, exprs: slices.Clone(h.outputs), visible: width}
	for _, d := range h.direct {
		r := renderConform
		if d {
			r = renderAsIs
		}
		proj.render = append(proj.render, r)
	}
	var keys []orderKey
	for _, o := range h.order {
		col := o.output
		if col < 0 {
			col = len(proj.exprs)
			proj.exprs = append(proj.exprs, o.expr)
			proj.render = append(proj.render, renderAsIs)
		}
		keys = append(keys, orderKey{col: colRef{index: col}, desc: o.desc})
	}
	fq, err := fieldsQuery(h.sel, h.p.st.ctx.SQL)
	if err != nil {
		return nil, err
	}
	proj.columns = &Route{Opcode: AnyShard, Keyspace: h.p.st.keyspace.Name, query: fq}
	in = proj
	hidden := len(proj.exprs) - width
	if h.sel.Distinct {
		in = &Distinct{input: in, hidden: hidden}
	}
	if len(keys) > 0 {
		in = &Sort{input: in, keys: keys}
	}
	if lim := h.sel.Limit; lim != nil {
		in = &Limit{input: in, count: lim.Rowcount, offset: lim.Offset}
	}
	return &GateSelect{input: in, hidden: hidden}, nil
}

// groupPlanner translates expressions of a grouped query into expressions
// over group rows: the grouping keys first, then one slot per aggregate
// (and per column read outside aggregates).
type groupPlanner struct {
	p     *gatePlanner
	keys  []sqlparser.Expr
	slots []*aggregate
	// slotExprs are the expressions the slots were made for, to share a
	// slot between equal aggregates.
	slotExprs []sqlparser.Expr
}

// checkAggregates refuses aggregates the gate does not compute.
func (g *groupPlanner) checkAggregates(sel *sqlparser.Select) error {
	var failed error
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch a := n.(type) {
		case *sqlparser.Subquery:
			return false, nil
		case *sqlparser.CountStar, *sqlparser.Count, *sqlparser.Sum, *sqlparser.Avg, *sqlparser.Min, *sqlparser.Max, *sqlparser.GroupConcatExpr, *sqlparser.AnyValue:
		case sqlparser.AggrFunc:
			failed = g.p.refuse("aggregate function %s across shards", strings.ToUpper(a.AggrName()))
		}
		return failed == nil, nil
	}, sel)
	return failed
}

func (g *groupPlanner) keyIndex(e sqlparser.Expr) int {
	switch e.(type) {
	case *sqlparser.Literal, *sqlparser.Argument, *sqlparser.Offset:
		return -1
	}
	for i, k := range g.keys {
		if exprEquals(k, e) {
			return i
		}
		// A grouping column matches its references however qualified.
		if kc, ok := k.(*sqlparser.ColName); ok {
			if ec, ok := e.(*sqlparser.ColName); ok {
				kl, kcol, kok, _ := g.p.lookup(kc)
				el, ecol, eok, _ := g.p.lookup(ec)
				if kok && eok && kl == el && kcol == ecol {
					return i
				}
			}
		}
	}
	return -1
}

// isDirect reports whether an output over groups is a grouping column or a
// column's value of the group, sent as read.
func (g *groupPlanner) isDirect(ge *gateExpr) bool {
	off, ok := ge.ast.(*sqlparser.Offset)
	if !ok {
		return false
	}
	if off.V < len(g.keys) {
		_, col := g.keys[off.V].(*sqlparser.ColName)
		return col
	}
	s := g.slots[off.V-len(g.keys)]
	return s.op == aggAnyValue
}

// overGroups translates e into an expression over group rows.
func (g *groupPlanner) overGroups(e sqlparser.Expr) (*gateExpr, error) {
	var failed error
	rewritten := sqlparser.CopyOnRewrite(sqlparser.CloneExpr(e), func(node, _ sqlparser.SQLNode) bool {
		if failed != nil {
			return false
		}
		switch n := node.(type) {
		case sqlparser.AggrFunc, *sqlparser.Subquery, *sqlparser.Offset:
			return false
		case sqlparser.Expr:
			return g.keyIndex(n) < 0
		}
		return true
	}, func(c *sqlparser.CopyOnWriteCursor) {
		if failed != nil {
			return
		}
		expr, ok := c.Node().(sqlparser.Expr)
		if !ok {
			return
		}
		if k := g.keyIndex(expr); k >= 0 {
			c.Replace(newOffset(k))
			return
		}
		switch n := expr.(type) {
		case sqlparser.AggrFunc:
			i, err := g.aggregate(n)
			if err != nil {
				failed = err
				return
			}
			c.Replace(newOffset(len(g.keys) + i))
		case *sqlparser.ColName:
			i, err := g.first(n)
			if err != nil {
				failed = err
				return
			}
			c.Replace(newOffset(len(g.keys) + i))
		case *sqlparser.Subquery:
			failed = g.p.refuse("subqueries over groups computed at the gate (%s)", sqlparser.String(n))
		}
	}, nil)
	if failed != nil {
		return nil, failed
	}
	return &gateExpr{ast: rewritten.(sqlparser.Expr)}, nil
}

// aggregate returns the slot of an aggregate, adding it when new.
func (g *groupPlanner) aggregate(a sqlparser.AggrFunc) (int, error) {
	for i, e := range g.slotExprs {
		if exprEquals(e, a) {
			return i, nil
		}
	}
	s := &aggregate{argField: -1}
	var args []sqlparser.Expr
	switch f := a.(type) {
	case *sqlparser.CountStar:
		s.op = aggCountStar
	case *sqlparser.Count:
		s.op, args, s.distinct = aggCount, f.Args, f.Distinct
	case *sqlparser.Sum:
		s.op, args, s.distinct = aggSum, []sqlparser.Expr{f.Arg}, f.Distinct
	case *sqlparser.Avg:
		s.op, args, s.distinct = aggAvg, []sqlparser.Expr{f.Arg}, f.Distinct
	case *sqlparser.Min:
		s.op, args, s.distinct = aggMin, []sqlparser.Expr{f.Arg}, f.Distinct
	case *sqlparser.Max:
		s.op, args, s.distinct = aggMax, []sqlparser.Expr{f.Arg}, f.Distinct
	case *sqlparser.AnyValue:
		s.op, args = aggAnyValue, []sqlparser.Expr{f.Arg}
	case *sqlparser.GroupConcatExpr:
		if f.Limit != nil {
			return 0, g.p.refuse("GROUP_CONCAT with LIMIT across shards")
		}
		s.op, args, s.distinct, s.separator = aggGroupConcat, f.Exprs, f.Distinct, ","
		if f.Separator != "" {
			s.separator = decodeSQLString(f.Separator)
		}
		for _, o := range f.OrderBy {
			ge, err := g.p.b.toGateExpr(o.Expr, g.p)
			if err != nil {
				return 0, err
			}
			s.order = append(s.order, gateSortKey{expr: ge, desc: o.Direction == sqlparser.DescOrder})
		}
	default:
		return 0, g.p.refuse("aggregate function %s across shards", strings.ToUpper(a.AggrName()))
	}
	for _, arg := range args {
		ge, err := g.p.b.toGateExpr(arg, g.p)
		if err != nil {
			return 0, err
		}
		if len(ge.applies) > 0 {
			return 0, g.p.refuse("subqueries inside aggregate functions across shards")
		}
		s.args = append(s.args, ge)
	}
	if len(s.args) == 1 {
		if off, ok := s.args[0].ast.(*sqlparser.Offset); ok {
			s.argField = off.V
		}
	}
	g.slots = append(g.slots, s)
	g.slotExprs = append(g.slotExprs, a)
	return len(g.slots) - 1, nil
}

// first returns the slot holding a column's value of the group.
func (g *groupPlanner) first(c *sqlparser.ColName) (int, error) {
	return g.aggregate(&sqlparser.AnyValue{Arg: c})
}

// fieldsQuery is sel as it names its columns, with every WHERE
// impossible (see impossibleQuery).
func fieldsQuery(sel *sqlparser.Select, sql string) (*sqlparser.ParsedQuery, error) {
	clone := sqlparser.CloneRefOfSelect(sel)
	keepColumnNames(clone, sql)
	clone.Limit, clone.Lock, clone.Into, clone.SQLCalcFoundRows = nil, sqlparser.NoLock, nil, false
	clone.OrderBy = nil
	return impossibleQuery(clone), nil
}

// decodeSQLString reads a quoted SQL string literal as the parser encodes
// it (GROUP_CONCAT's SEPARATOR).
func decodeSQLString(s string) string {
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		s = s[1 : len(s)-1]
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			if c == '\'' && i+1 < len(s) && s[i+1] == '\'' {
				i++ // '' is one quote
			}
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '0':
			b.WriteByte(0)
		case 'b':
			b.WriteByte('\b')
		case 'Z':
			b.WriteByte(26)
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
