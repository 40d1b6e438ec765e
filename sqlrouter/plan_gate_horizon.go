package sqlrouter

import (
	"slices"
	"strconv"
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// planHorizon plans what the gate computes over the joined rows: grouping
// and aggregates, HAVING, the select list, DISTINCT, ORDER BY and LIMIT.
func (p *gatePlanner) planHorizon(from *gateFrom) (*GateSelect, error) {
	sel := p.sel
	gs := &GateSelect{from: from, keyspace: p.st.keyspace.Name, distinct: sel.Distinct}
	if sel.Limit != nil {
		gs.limit, gs.offset = sel.Limit.Rowcount, sel.Limit.Offset
	}

	// The select list, with * expanded into the columns it stands for.
	var items []sqlparser.Expr
	var aliases []string // lower-cased output names, for references by alias
	for _, se := range sel.SelectExprs.Exprs {
		switch e := se.(type) {
		case *sqlparser.StarExpr:
			offs, names, err := p.starColumns(e)
			if err != nil {
				return nil, err
			}
			for i, off := range offs {
				items = append(items, newOffset(off))
				aliases = append(aliases, strings.ToLower(names[i]))
			}
		case *sqlparser.AliasedExpr:
			items = append(items, e.Expr)
			aliases = append(aliases, strings.ToLower(outputName(e)))
		default:
			return nil, p.refuse("select item %s across shards", sqlparser.String(se))
		}
	}
	gs.width = len(items)

	// aliasOf resolves an unqualified name that is no column of the
	// tables to the select item it names.
	aliasOf := func(e sqlparser.Expr) (int, bool) {
		c, ok := e.(*sqlparser.ColName)
		if !ok || !c.Qualifier.IsEmpty() {
			return 0, false
		}
		if _, _, found, _ := p.lookup(c); found {
			return 0, false
		}
		for i, a := range aliases {
			if a == c.Name.Lowered() {
				return i, true
			}
		}
		return 0, false
	}
	position := func(e sqlparser.Expr, clause string) (int, bool, error) {
		lit, ok := e.(*sqlparser.Literal)
		if !ok || lit.Type != sqlparser.IntVal {
			return 0, false, nil
		}
		n, err := strconv.Atoi(lit.Val)
		if err != nil || n < 1 || n > len(items) {
			return 0, false, sqlerr.New(sqlerror.ERBadFieldError, sqlerror.SSBadFieldError, "Unknown column '%s' in '%s'", lit.Val, clause)
		}
		return n - 1, true, nil
	}
	// substituteAliases replaces references to select aliases (HAVING
	// may use them) by the items they name.
	substituteAliases := func(e sqlparser.Expr) sqlparser.Expr {
		return sqlparser.CopyOnRewrite(e, func(node, _ sqlparser.SQLNode) bool {
			_, sub := node.(*sqlparser.Subquery)
			return !sub
		}, func(c *sqlparser.CopyOnWriteCursor) {
			if col, ok := c.Node().(*sqlparser.ColName); ok {
				if i, ok := aliasOf(col); ok {
					c.Replace(sqlparser.CloneExpr(items[i]))
				}
			}
		}, nil).(sqlparser.Expr)
	}

	var groupBy []sqlparser.Expr
	if sel.GroupBy != nil {
		for _, g := range sel.GroupBy.Exprs {
			if i, ok, err := position(g, "group statement"); err != nil {
				return nil, err
			} else if ok {
				groupBy = append(groupBy, items[i])
				continue
			}
			if i, ok := aliasOf(g); ok {
				groupBy = append(groupBy, items[i])
				continue
			}
			groupBy = append(groupBy, g)
		}
	}
	var having sqlparser.Expr
	if sel.Having != nil {
		having = substituteAliases(sel.Having.Expr)
	}
	aggregating := len(groupBy) > 0 || containsAggregate(sel.SelectExprs) || (having != nil && containsAggregate(having))
	for _, o := range sel.OrderBy {
		aggregating = aggregating || containsAggregate(o.Expr)
	}

	// scope is the row the select list is computed over: the joined rows,
	// or, when grouping, one row per group.
	var scope func(sqlparser.Expr) (*gateExpr, error)
	if aggregating {
		g := &groupPlanner{p: p}
		for _, k := range groupBy {
			ge, err := p.b.toGateExpr(k, p)
			if err != nil {
				return nil, err
			}
			if len(ge.applies) > 0 {
				return nil, p.refuse("correlated subqueries in GROUP BY across shards")
			}
			gs.keys = append(gs.keys, ge)
			g.keys = append(g.keys, k)
		}
		scope = g.overGroups
		gs.aggregating = true
		if err := g.checkAggregates(sel); err != nil {
			return nil, err
		}
		// The slots are filled as the expressions over groups are
		// translated, below.
		gs.groupPlanner = g
	} else {
		scope = func(e sqlparser.Expr) (*gateExpr, error) { return p.b.toGateExpr(e, p) }
	}

	for _, it := range items {
		ge, err := scope(it)
		if err != nil {
			return nil, err
		}
		// A column sent as read keeps its text; computed values are
		// rendered as MySQL renders the result column.
		_, direct := ge.ast.(*sqlparser.Offset)
		if aggregating {
			direct = gs.groupPlanner.isDirect(ge)
		}
		gs.outputs = append(gs.outputs, ge)
		gs.direct = append(gs.direct, direct)
	}
	if having != nil {
		ge, err := scope(having)
		if err != nil {
			return nil, err
		}
		gs.having = ge
	}
	for _, o := range sel.OrderBy {
		desc := o.Direction == sqlparser.DescOrder
		if i, ok, err := position(o.Expr, "order clause"); err != nil {
			return nil, err
		} else if ok {
			gs.order = append(gs.order, gateOrder{output: i, desc: desc})
			continue
		}
		// ORDER BY looks at the select list's names first.
		if c, ok := o.Expr.(*sqlparser.ColName); ok && c.Qualifier.IsEmpty() {
			if i := slices.Index(aliases, c.Name.Lowered()); i >= 0 {
				gs.order = append(gs.order, gateOrder{output: i, desc: desc})
				continue
			}
		}
		matched := -1
		for i, it := range items {
			if exprEquals(it, o.Expr) {
				matched = i
				break
			}
		}
		if matched >= 0 {
			gs.order = append(gs.order, gateOrder{output: matched, desc: desc})
			continue
		}
		ge, err := scope(o.Expr)
		if err != nil {
			return nil, err
		}
		gs.order = append(gs.order, gateOrder{output: -1, expr: ge, desc: desc})
	}
	if gs.groupPlanner != nil {
		gs.slots = gs.groupPlanner.slots
	}

	fq, err := fieldsQuery(p.sel, p.st.ctx.SQL)
	if err != nil {
		return nil, err
	}
	gs.fields = fq
	return gs, nil
}

// groupPlanner translates expressions of a grouped query into expressions
// over group rows: the grouping keys first, then one slot per aggregate
// (and per column read outside aggregates).
type groupPlanner struct {
	p     *gatePlanner
	keys  []sqlparser.Expr
	slots []*aggSlot
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
	return s.kind == gaFirst
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
	s := &aggSlot{argField: -1}
	var args []sqlparser.Expr
	switch f := a.(type) {
	case *sqlparser.CountStar:
		s.kind = gaCountStar
	case *sqlparser.Count:
		s.kind, args, s.distinct = gaCount, f.Args, f.Distinct
	case *sqlparser.Sum:
		s.kind, args, s.distinct = gaSum, []sqlparser.Expr{f.Arg}, f.Distinct
	case *sqlparser.Avg:
		s.kind, args, s.distinct = gaAvg, []sqlparser.Expr{f.Arg}, f.Distinct
	case *sqlparser.Min:
		s.kind, args, s.distinct = gaMin, []sqlparser.Expr{f.Arg}, f.Distinct
	case *sqlparser.Max:
		s.kind, args, s.distinct = gaMax, []sqlparser.Expr{f.Arg}, f.Distinct
	case *sqlparser.AnyValue:
		s.kind, args = gaFirst, []sqlparser.Expr{f.Arg}
	case *sqlparser.GroupConcatExpr:
		if f.Limit != nil {
			return 0, g.p.refuse("GROUP_CONCAT with LIMIT across shards")
		}
		s.kind, args, s.distinct, s.separator = gaGroupConcat, f.Exprs, f.Distinct, ","
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
