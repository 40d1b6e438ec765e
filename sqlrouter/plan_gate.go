package sqlrouter

import (
	"fmt"
	"slices"
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// planGate plans a SELECT that the shards cannot answer whole, as logical
// operators the gate executes itself:
//
//	fetch groups -> nested-loop joins -> filters -> horizon
//
// Each table, or group of tables that join on their shards (co-located,
// reference), or derived table is read by its own route with the
// conditions that concern it alone; the gate joins the rows (sending a
// right side the left side's join keys as one IN list, so it is routed by
// vindex when it can be), applies the conditions that span tables and
// correlated subqueries, then groups, aggregates, projects, removes
// duplicates, sorts and limits. The result's column metadata comes from
// the statement itself run on one shard with an impossible WHERE, so that
// names and types are exactly MySQL's.
func planGate(st *planState, sel *sqlparser.Select) error {
	if st.ctx.Schema == nil {
		return sqlerr.Unsupported("this statement needs the gate to join or compute rows itself, and the gate knows no schema")
	}
	p := &gatePlanner{st: st, sel: sel, b: applyBuilder{ctx: st.ctx, next: new(int), needs: &st.needs}}
	if err := p.checkShape(); err != nil {
		return err
	}
	if err := p.flatten(); err != nil {
		return err
	}
	if err := p.markUsed(); err != nil {
		return err
	}
	p.group()
	if err := p.placeConditions(); err != nil {
		return err
	}
	from, err := p.buildFrom()
	if err != nil {
		return err
	}
	h, err := p.planHorizon(from)
	if err != nil {
		return err
	}
	st.primitive = h
	return nil
}

// gatePlanner holds what planning one gate-evaluated SELECT found.
type gatePlanner struct {
	st     *planState
	sel    *sqlparser.Select
	b      applyBuilder
	leaves []*gateLeaf
	steps  []joinStep
	// extra are conditions of nested inner joins, which hold like WHERE.
	extra  []sqlparser.Expr
	groups []*fetchGroup
}

// gateLeaf is one table or derived table of the statement.
type gateLeaf struct {
	alias     string // lower-cased name its columns are qualified by
	aliasText string // as written
	ate       *sqlparser.AliasedTableExpr
	table     *Table // nil for a derived table
	derived   *sqlparser.DerivedTable
	columns   []string // every column it offers, in order
	used      []bool
	group     int
	// using lists the columns of a JOIN ... USING that joined it to the
	// leaves before it (lower-cased).
	using []string
	// fromOrder is its position in the FROM clause as written (a RIGHT
	// JOIN reads its right side first).
	fromOrder int
}

// joinStep joins a leaf to everything before it.
type joinStep struct {
	leaf int
	left bool // LEFT JOIN; otherwise an inner or cross join
	on   []sqlparser.Expr
}

// fetchGroup is a set of leaves one route reads together.
type fetchGroup struct {
	leaves  []int
	derived bool
	from    sqlparser.TableExpr // for tables: the join of its tables
	left    bool                // LEFT-joined to the groups before it
	where   []sqlparser.Expr    // conditions its read applies
	conds   []sqlparser.Expr    // conditions pairing its rows with the rows before
	post    []sqlparser.Expr    // filters once it is joined
	slots   []slot              // what its read returns, in order
	start   int                 // offset of its first column in the joined row
	// keyLeft = keyRight is the equality whose left values are sent to the
	// read as an IN list.
	keyLeft, keyRight sqlparser.Expr
	keySlot           int
}

// slot is one column a group's read returns: a leaf's column, or an
// expression (a join key).
type slot struct {
	leaf, col int
	expr      sqlparser.Expr
}

func (p *gatePlanner) refuse(format string, args ...any) error {
	return sqlerr.Unsupported(format, args...)
}

// checkShape refuses what the gate cannot evaluate.
func (p *gatePlanner) checkShape() error {
	sel := p.sel
	switch {
	case sel.Into != nil:
		return p.refuse("SELECT ... INTO across shards")
	case sel.Lock != sqlparser.NoLock:
		return p.refuse("locking reads (FOR UPDATE, LOCK IN SHARE MODE) that the gate must join or compute itself")
	case sel.GroupBy != nil && sel.GroupBy.WithRollup:
		return p.refuse("GROUP BY ... WITH ROLLUP across shards")
	case len(sel.Windows) > 0 || containsWindowFunc(sel):
		return p.refuse("window functions across shards")
	}
	return nil
}

// flatten reads the FROM clause into leaves joined one after another.
func (p *gatePlanner) flatten() error {
	for _, te := range p.sel.From {
		if err := p.addTableExpr(te, false, nil); err != nil {
			return err
		}
	}
	for i, l := range p.leaves {
		for j, other := range p.leaves[:i] {
			if l.alias == other.alias {
				_ = j
				return sqlerr.New(sqlerror.ERNonUniqTable, sqlerror.SSClientError, "Not unique table/alias: '%s'", l.aliasText)
			}
		}
	}
	return nil
}

// addTableExpr appends te's leaves. left and on say how te joins what came
// before it (for a leaf; a nested join passes its own).
func (p *gatePlanner) addTableExpr(te sqlparser.TableExpr, left bool, on []sqlparser.Expr) error {
	switch t := te.(type) {
	case *sqlparser.AliasedTableExpr:
		leaf, err := p.newLeaf(t)
		if err != nil {
			return err
		}
		p.leaves = append(p.leaves, leaf)
		p.steps = append(p.steps, joinStep{leaf: len(p.leaves) - 1, left: left, on: on})
		return nil
	case *sqlparser.ParenTableExpr:
		if left {
			return p.refuse("a LEFT JOIN whose right side is a parenthesized join, across shards")
		}
		for _, e := range t.Exprs {
			if err := p.addTableExpr(e, false, nil); err != nil {
				return err
			}
		}
		p.extra = append(p.extra, on...)
		return nil
	case *sqlparser.JoinTableExpr:
		if left {
			return p.refuse("a LEFT JOIN whose right side is a join, across shards")
		}
		p.extra = append(p.extra, on...)
		start := len(p.leaves)
		switch t.Join {
		case sqlparser.NormalJoinType, sqlparser.StraightJoinType, sqlparser.LeftJoinType:
			if err := p.addTableExpr(t.LeftExpr, false, nil); err != nil {
				return err
			}
			first := len(p.leaves)
			rightATE, isLeaf := t.RightExpr.(*sqlparser.AliasedTableExpr)
			if !isLeaf {
				// a JOIN (b JOIN c) ON x: an inner join's condition holds
				// like WHERE, whatever the nesting.
				if t.Join == sqlparser.LeftJoinType {
					return p.refuse("a LEFT JOIN whose right side is a join, across shards")
				}
				if t.Condition != nil && len(t.Condition.Using) > 0 {
					return p.refuse("JOIN ... USING with a join on its right side, across shards")
				}
				if err := p.addTableExpr(t.RightExpr, false, nil); err != nil {
					return err
				}
				if t.Condition != nil && t.Condition.On != nil {
					p.extra = sqlparser.SplitAndExpression(p.extra, t.Condition.On)
				}
				return nil
			}
			if err := p.addTableExpr(rightATE, t.Join == sqlparser.LeftJoinType, nil); err != nil {
				return err
			}
			conds, err := p.joinConditions(t, start, first, first)
			if err != nil {
				return err
			}
			p.steps[len(p.steps)-1].on = conds
			return nil
		case sqlparser.RightJoinType:
			// a RIGHT JOIN b is b LEFT JOIN a; the columns of * keep the
			// written order (fromOrder).
			leftATE, ok := t.LeftExpr.(*sqlparser.AliasedTableExpr)
			if !ok {
				return p.refuse("a RIGHT JOIN whose left side is a join, across shards")
			}
			order := p.nextFromOrder()
			if err := p.addTableExpr(t.RightExpr, false, nil); err != nil {
				return err
			}
			first := len(p.leaves)
			if err := p.addTableExpr(leftATE, true, nil); err != nil {
				return err
			}
			p.leaves[first].fromOrder = order
			for i := start; i < first; i++ {
				p.leaves[i].fromOrder++
			}
			conds, err := p.joinConditions(t, start, first, first)
			if err != nil {
				return err
			}
			p.steps[len(p.steps)-1].on = conds
			return nil
		}
		return p.refuse("NATURAL JOIN across shards (write the join condition)")
	}
	return p.refuse("%s in FROM across shards", sqlparser.String(te))
}

func (p *gatePlanner) nextFromOrder() int { return len(p.leaves) }

// joinConditions returns a join's ON conditions, or the equalities its
// USING columns state between the leaf joined (joined) and the first of
// the leaves [from, to) that has the column.
func (p *gatePlanner) joinConditions(t *sqlparser.JoinTableExpr, from, to, joined int) ([]sqlparser.Expr, error) {
	if t.Condition == nil {
		return nil, nil
	}
	if t.Condition.On != nil {
		return sqlparser.SplitAndExpression(nil, t.Condition.On), nil
	}
	var conds []sqlparser.Expr
	for _, col := range t.Condition.Using {
		name := col.Lowered()
		var owner *gateLeaf
		for _, l := range p.leaves[from:to] {
			if slices.Contains(lowerAll(l.columns), name) {
				owner = l
				break
			}
		}
		r := p.leaves[joined]
		if owner == nil || !slices.Contains(lowerAll(r.columns), name) {
			return nil, sqlerr.New(sqlerror.ERBadFieldError, sqlerror.SSBadFieldError, "Unknown column '%s' in 'from clause'", col.String())
		}
		r.using = append(r.using, name)
		conds = append(conds, &sqlparser.ComparisonExpr{Operator: sqlparser.EqualOp,
			Left:  sqlparser.NewColNameWithQualifier(col.String(), sqlparser.TableName{Name: sqlparser.NewIdentifierCS(owner.aliasText)}),
			Right: sqlparser.NewColNameWithQualifier(col.String(), sqlparser.TableName{Name: sqlparser.NewIdentifierCS(r.aliasText)})})
	}
	return conds, nil
}

func lowerAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(n)
	}
	return out
}

// newLeaf makes a leaf of a table or derived table, with its columns.
func (p *gatePlanner) newLeaf(ate *sqlparser.AliasedTableExpr) (*gateLeaf, error) {
	leaf := &gateLeaf{ate: ate, fromOrder: p.nextFromOrder()}
	switch e := ate.Expr.(type) {
	case sqlparser.TableName:
		alias := ate.As.String()
		if alias == "" {
			alias = e.Name.String()
		}
		leaf.aliasText, leaf.alias = alias, strings.ToLower(alias)
		ks := e.Qualifier.String()
		if ks == "" {
			ks = p.st.ctx.Keyspace
		}
		k, ok := p.st.ctx.VSchema.Keyspace(ks)
		if !ok {
			return nil, sqlerr.New(sqlerror.ERBadDb, sqlerror.SSClientError, "Unknown database '%s'", ks)
		}
		leaf.table = k.Tables[strings.ToLower(e.Name.String())]
		if leaf.table == nil {
			return nil, sqlerr.New(sqlerror.ERNoSuchTable, sqlerror.SSUnknownTable, "Table '%s.%s' is not in the vschema of keyspace %s", ks, e.Name.String(), ks)
		}
		cols, ok := p.st.ctx.Schema.Columns(ks, e.Name.String())
		if !ok {
			return nil, sqlerr.New(sqlerror.ERNoSuchTable, sqlerror.SSUnknownTable, "Table '%s.%s' doesn't exist (the gate's schema of keyspace %s has no such table)", ks, e.Name.String(), ks)
		}
		leaf.columns = cols
	case *sqlparser.DerivedTable:
		if e.Lateral {
			return nil, p.refuse("LATERAL derived tables across shards")
		}
		if ate.As.IsEmpty() {
			return nil, sqlerr.New(sqlerror.ERDerivedMustHaveAlias, sqlerror.SSClientError, "Every derived table must have its own alias")
		}
		leaf.aliasText, leaf.alias = ate.As.String(), strings.ToLower(ate.As.String())
		leaf.derived = e
		cols, err := outputColumns(p.st.ctx, e.Select)
		if err != nil {
			return nil, err
		}
		if len(ate.Columns) > 0 {
			if len(ate.Columns) != len(cols) {
				return nil, sqlerr.New(1353, "HY000", "In definition of view, derived table or common table expression, SELECT list and column names list have different column counts")
			}
			for i, c := range ate.Columns {
				cols[i] = c.String()
			}
		}
		leaf.columns = cols
	default:
		return nil, p.refuse("%s in FROM across shards", sqlparser.String(ate))
	}
	leaf.used = make([]bool, len(leaf.columns))
	return leaf, nil
}

// outputColumns names the columns a SELECT (or UNION: its first SELECT)
// returns, expanding * through the schema.
func outputColumns(ctx PlanContext, ts sqlparser.TableStatement) ([]string, error) {
	sel := leftmostSelect(ts)
	if sel == nil {
		return nil, sqlerr.Unsupported("%T as a derived table across shards", ts)
	}
	var out []string
	for _, se := range sel.SelectExprs.Exprs {
		switch e := se.(type) {
		case *sqlparser.AliasedExpr:
			out = append(out, outputName(e))
		case *sqlparser.StarExpr:
			cols, err := fromColumns(ctx, sel.From, strings.ToLower(e.TableName.Name.String()))
			if err != nil {
				return nil, err
			}
			out = append(out, cols...)
		default:
			return nil, sqlerr.Unsupported("select item %s of a derived table across shards", sqlparser.String(se))
		}
	}
	return out, nil
}

// fromColumns lists the columns of the tables of a FROM clause (only those
// of the table called qualifier, when it is not empty), in order.
func fromColumns(ctx PlanContext, from []sqlparser.TableExpr, qualifier string) ([]string, error) {
	var out []string
	var failed error
	var visit func(te sqlparser.TableExpr)
	visit = func(te sqlparser.TableExpr) {
		if failed != nil {
			return
		}
		switch t := te.(type) {
		case *sqlparser.JoinTableExpr:
			visit(t.LeftExpr)
			visit(t.RightExpr)
		case *sqlparser.ParenTableExpr:
			for _, e := range t.Exprs {
				visit(e)
			}
		case *sqlparser.AliasedTableExpr:
			alias := strings.ToLower(t.As.String())
			switch e := t.Expr.(type) {
			case sqlparser.TableName:
				if alias == "" {
					alias = strings.ToLower(e.Name.String())
				}
				if qualifier != "" && alias != qualifier {
					return
				}
				ks := e.Qualifier.String()
				if ks == "" {
					ks = ctx.Keyspace
				}
				if ctx.Schema == nil {
					failed = sqlerr.Unsupported("SELECT * that the gate must expand: no schema is known")
					return
				}
				cols, ok := ctx.Schema.Columns(ks, e.Name.String())
				if !ok {
					failed = sqlerr.New(sqlerror.ERNoSuchTable, sqlerror.SSUnknownTable, "Table '%s.%s' doesn't exist", ks, e.Name.String())
					return
				}
				out = append(out, cols...)
			case *sqlparser.DerivedTable:
				if qualifier != "" && alias != qualifier {
					return
				}
				if len(t.Columns) > 0 {
					for _, c := range t.Columns {
						out = append(out, c.String())
					}
					return
				}
				cols, err := outputColumns(ctx, e.Select)
				if err != nil {
					failed = err
					return
				}
				out = append(out, cols...)
			}
		}
	}
	for _, te := range from {
		visit(te)
	}
	if failed != nil {
		return nil, failed
	}
	if qualifier != "" && len(out) == 0 {
		return nil, sqlerr.New(sqlerror.ERBadTable, sqlerror.SSUnknownTable, "Unknown table '%s'", qualifier)
	}
	return out, nil
}

// lookup finds the leaf and column a column reference names. ok is false
// when no leaf has it (a reference to an outer statement, or an alias of
// the select list).
func (p *gatePlanner) lookup(c *sqlparser.ColName) (leaf, col int, ok bool, err error) {
	name := c.Name.Lowered()
	if !c.Qualifier.IsEmpty() {
		q := strings.ToLower(c.Qualifier.Name.String())
		for i, l := range p.leaves {
			if l.alias != q {
				continue
			}
			for j, cn := range l.columns {
				if strings.ToLower(cn) == name {
					return i, j, true, nil
				}
			}
			return 0, 0, false, sqlerr.New(sqlerror.ERBadFieldError, sqlerror.SSBadFieldError, "Unknown column '%s' in 'field list'", sqlparser.String(c))
		}
		return 0, 0, false, nil
	}
	leaf, col = -1, -1
	for i, l := range p.leaves {
		for j, cn := range l.columns {
			if strings.ToLower(cn) != name {
				continue
			}
			if leaf >= 0 && !slices.Contains(l.using, name) {
				return 0, 0, false, sqlerr.New(sqlerror.ERNonUniq, sqlerror.SSConstraintViolation, "Column '%s' in field list is ambiguous", c.Name.String())
			}
			if leaf < 0 {
				leaf, col = i, j
			}
		}
	}
	return leaf, col, leaf >= 0, nil
}

// markUsed finds the columns of each leaf that the gate itself reads:
// those of the select list, GROUP BY, HAVING and ORDER BY here; those of
// conditions the gate evaluates once they are placed (see buildFrom).
func (p *gatePlanner) markUsed() error {
	if err := p.mark(p.sel.SelectExprs); err != nil {
		return err
	}
	if p.sel.GroupBy != nil {
		for _, e := range p.sel.GroupBy.Exprs {
			if err := p.mark(e); err != nil {
				return err
			}
		}
	}
	if p.sel.Having != nil {
		if err := p.mark(p.sel.Having); err != nil {
			return err
		}
	}
	return p.mark(p.sel.OrderBy)
}

// mark marks the columns node reads (correlated ones of its subqueries
// included) as used.
func (p *gatePlanner) mark(node sqlparser.SQLNode) error {
	var failed error
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		if failed != nil {
			return false, nil
		}
		switch x := n.(type) {
		case *sqlparser.Subquery:
			failed = p.markCorrelated(x)
			return false, nil
		case *sqlparser.DerivedTable, *sqlparser.Offset:
			return false, nil
		case *sqlparser.StarExpr:
			q := strings.ToLower(x.TableName.Name.String())
			found := false
			for _, l := range p.leaves {
				if q == "" || l.alias == q {
					found = true
					for i := range l.used {
						l.used[i] = true
					}
				}
			}
			if !found {
				failed = sqlerr.New(sqlerror.ERBadTable, sqlerror.SSUnknownTable, "Unknown table '%s'", x.TableName.Name.String())
			}
		case *sqlparser.ColName:
			leaf, col, ok, err := p.lookup(x)
			if err != nil {
				failed = err
			} else if ok {
				p.leaves[leaf].used[col] = true
			}
		}
		return true, nil
	}, node)
	return failed
}

// markCorrelated marks the outer columns a subquery reads.
func (p *gatePlanner) markCorrelated(sq *sqlparser.Subquery) error {
	inner := outerTables(sq.Select)
	var failed error
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		c, ok := n.(*sqlparser.ColName)
		if !ok || c.Qualifier.IsEmpty() || inner[strings.ToLower(c.Qualifier.Name.String())] {
			return true, nil
		}
		leaf, col, found, err := p.lookup(c)
		if err != nil {
			failed = err
		} else if found {
			p.leaves[leaf].used[col] = true
		}
		return failed == nil, nil
	}, sq.Select)
	return failed
}

// refs returns the leaves an expression reads, correlated columns of its
// subqueries included, and whether it has a subquery.
func (p *gatePlanner) refs(e sqlparser.Expr) (map[int]bool, bool) {
	out := map[int]bool{}
	sub := false
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch x := n.(type) {
		case *sqlparser.Subquery:
			sub = true
			inner := outerTables(x.Select)
			_ = sqlparser.Walk(func(m sqlparser.SQLNode) (bool, error) {
				if c, ok := m.(*sqlparser.ColName); ok && !c.Qualifier.IsEmpty() && !inner[strings.ToLower(c.Qualifier.Name.String())] {
					if leaf, _, ok, _ := p.lookup(c); ok {
						out[leaf] = true
					}
				}
				return true, nil
			}, x.Select)
			return false, nil
		case *sqlparser.ColName:
			if leaf, _, ok, _ := p.lookup(x); ok {
				out[leaf] = true
			}
		}
		return true, nil
	}, e)
	return out, sub
}

// group puts leaves that one route can read together into fetch groups,
// following the join order: a table joins the group before it when every
// shard holds the matching rows of both (reference tables, or equal
// primary vindex columns under the same vindex).
func (p *gatePlanner) group() {
	for _, s := range p.steps {
		leaf := p.leaves[s.leaf]
		if n := len(p.groups); n > 0 && leaf.table != nil && p.joinsGroup(p.groups[n-1], s) {
			g := p.groups[n-1]
			g.leaves = append(g.leaves, s.leaf)
			leaf.group = n - 1
			continue
		}
		g := &fetchGroup{leaves: []int{s.leaf}, derived: leaf.derived != nil, left: s.left}
		leaf.group = len(p.groups)
		p.groups = append(p.groups, g)
	}
}

// joinsGroup reports whether step s can join group g in one read.
func (p *gatePlanner) joinsGroup(g *fetchGroup, s joinStep) bool {
	if g.derived || g.left {
		// A read that is the right side of a LEFT JOIN at the gate must
		// stay that one join: what joins after it joins the whole.
		return false
	}
	leaf := p.leaves[s.leaf]
	inGroup := func(i int) bool { return i == s.leaf || slices.Contains(g.leaves, i) }
	if s.left {
		// Its ON conditions must all be decided inside the read.
		for _, c := range s.on {
			refs, sub := p.refs(c)
			if sub {
				return false
			}
			for r := range refs {
				if !inGroup(r) {
					return false
				}
			}
		}
	}
	groupSharded := false
	for _, i := range g.leaves {
		if p.leaves[i].table.Type != "reference" {
			groupSharded = true
		}
	}
	if leaf.table.Type == "reference" {
		// On every shard: each row of the group meets all of it where the
		// row lives.
		return true
	}
	if !groupSharded {
		// Reference tables joined with a sharded table: each row pair
		// lives on the sharded row's shard, for an inner join only.
		return !s.left
	}
	conds := s.on
	if !s.left {
		conds = append(slices.Clone(conds), p.whereConds()...)
	}
	for _, c := range conds {
		cmp, ok := c.(*sqlparser.ComparisonExpr)
		if !ok || cmp.Operator != sqlparser.EqualOp {
			continue
		}
		l, lok := cmp.Left.(*sqlparser.ColName)
		r, rok := cmp.Right.(*sqlparser.ColName)
		if !lok || !rok {
			continue
		}
		a, ac, aok, _ := p.lookup(l)
		b, bc, bok, _ := p.lookup(r)
		if !aok || !bok {
			continue
		}
		if b == s.leaf {
			a, ac, b, bc = b, bc, a, ac
		}
		if a != s.leaf || !slices.Contains(g.leaves, b) {
			continue
		}
		if p.vindexColumn(a, ac) != "" && p.vindexColumn(a, ac) == p.vindexColumn(b, bc) {
			return true
		}
	}
	return false
}

// vindexColumn names the primary vindex of a sharded table when col is its
// (single) column, "" otherwise.
func (p *gatePlanner) vindexColumn(leaf, col int) string {
	l := p.leaves[leaf]
	if l.table == nil || l.table.Type == "reference" {
		return ""
	}
	cv := l.table.PrimaryVindex()
	if cv == nil || len(cv.Columns) != 1 || cv.Columns[0] != strings.ToLower(l.columns[col]) {
		return ""
	}
	return cv.Name
}

func (p *gatePlanner) whereConds() []sqlparser.Expr {
	var out []sqlparser.Expr
	if p.sel.Where != nil {
		out = sqlparser.SplitAndExpression(nil, p.sel.Where.Expr)
	}
	return append(out, p.extra...)
}

// placeConditions decides where each condition is evaluated: in a group's
// read when it concerns that group alone, else at the join where its
// tables meet (for an inner join, as a condition of the join; after a
// LEFT JOIN, as a filter).
func (p *gatePlanner) placeConditions() error {
	maxGroup := func(refs map[int]bool) int {
		m := 0
		for leaf := range refs {
			m = max(m, p.leaves[leaf].group)
		}
		return m
	}
	single := func(refs map[int]bool) bool {
		first := -1
		for leaf := range refs {
			g := p.leaves[leaf].group
			if first >= 0 && g != first {
				return false
			}
			first = g
		}
		return true
	}
	// ON conditions of the steps.
	for _, s := range p.steps {
		gi := p.leaves[s.leaf].group
		g := p.groups[gi]
		firstOfGroup := g.leaves[0] == s.leaf
		for _, c := range s.on {
			refs, sub := p.refs(c)
			switch {
			case !firstOfGroup:
				// A step inside a group: its ON conditions go in the
				// group's own join when they concern the group alone.
				if single(refs) && maxGroup(refs) == gi && !sub {
					p.attachOn(g, s.leaf, c)
				} else {
					g.conds = append(g.conds, c)
				}
			case single(refs) && maxGroup(refs) == gi && !sub && !g.derived:
				g.where = append(g.where, c) // filters the group's rows before the join
			default:
				g.conds = append(g.conds, c)
			}
		}
	}
	for _, c := range p.whereConds() {
		refs, sub := p.refs(c)
		m := maxGroup(refs)
		g := p.groups[m]
		switch {
		case single(refs) && !g.left && !g.derived && (!sub || p.subqueryFits(g, c)):
			g.where = append(g.where, c)
		case !g.left && m > 0:
			g.conds = append(g.conds, c)
		default:
			g.post = append(g.post, c)
		}
	}
	return nil
}

// attachOn adds an ON condition of a step inside a group to the group's
// join with that step's table.
func (p *gatePlanner) attachOn(g *fetchGroup, leaf int, c sqlparser.Expr) {
	if g.from == nil {
		g.from = p.groupFrom(g)
	}
	var find func(te sqlparser.TableExpr) bool
	find = func(te sqlparser.TableExpr) bool {
		j, ok := te.(*sqlparser.JoinTableExpr)
		if !ok {
			return false
		}
		if r, ok := j.RightExpr.(*sqlparser.AliasedTableExpr); ok && r == p.leaves[leaf].ate {
			if j.Condition == nil {
				j.Condition = &sqlparser.JoinCondition{}
			}
			if j.Condition.On == nil {
				j.Condition.On = c
			} else {
				j.Condition.On = &sqlparser.AndExpr{Left: j.Condition.On, Right: c}
			}
			return true
		}
		return find(j.LeftExpr)
	}
	find(g.from)
}

// groupFrom builds the FROM of a table group: its tables joined in order,
// with no conditions yet.
func (p *gatePlanner) groupFrom(g *fetchGroup) sqlparser.TableExpr {
	var from sqlparser.TableExpr = p.leaves[g.leaves[0]].ate
	for _, i := range g.leaves[1:] {
		join := sqlparser.NormalJoinType
		for _, s := range p.steps {
			if s.leaf == i && s.left {
				join = sqlparser.LeftJoinType
			}
		}
		from = &sqlparser.JoinTableExpr{LeftExpr: from, Join: join, RightExpr: p.leaves[i].ate}
	}
	return from
}

// subqueryFits reports whether a condition with a correlated subquery can
// run inside group g's read: the subquery's tables are co-located with
// the group's.
func (p *gatePlanner) subqueryFits(g *fetchGroup, c sqlparser.Expr) bool {
	from := g.from
	if from == nil {
		from = p.groupFrom(g)
	}
	trial := &sqlparser.Select{From: []sqlparser.TableExpr{sqlparser.CloneTableExpr(from)},
		SelectExprs: &sqlparser.SelectExprs{Exprs: []sqlparser.SelectExpr{&sqlparser.AliasedExpr{Expr: sqlparser.NewIntLiteral("1")}}},
		Where:       sqlparser.NewWhere(sqlparser.WhereClause, sqlparser.CloneExpr(c))}
	ts := &planState{ctx: p.st.ctx, stmt: trial}
	if err := resolveTables(ts); err != nil || ts.keyspace == nil {
		return false
	}
	return checkColocated(ts, trial) == nil
}

// buildFrom chooses join keys, lays out the joined row and plans each
// group's read.
func (p *gatePlanner) buildFrom() (*gateFrom, error) {
	for gi, g := range p.groups {
		if g.from == nil && !g.derived {
			g.from = p.groupFrom(g)
		}
		if gi > 0 {
			p.chooseKey(gi, g)
		}
		// What the gate evaluates itself must be read.
		for _, e := range append(append(slices.Clone(g.conds), g.post...), g.keyLeft) {
			if e != nil {
				if err := p.mark(e); err != nil {
					return nil, err
				}
			}
		}
	}
	for gi, g := range p.groups {
		for _, li := range g.leaves {
			l := p.leaves[li]
			for ci, used := range l.used {
				if used || g.derived {
					g.slots = append(g.slots, slot{leaf: li, col: ci})
				}
			}
		}
		if g.keyRight != nil {
			g.keySlot = -1
			if col, ok := g.keyRight.(*sqlparser.ColName); ok {
				if leaf, ci, found, _ := p.lookup(col); found {
					g.keySlot = slices.Index(g.slots, slot{leaf: leaf, col: ci})
				}
			}
			if g.keySlot < 0 {
				g.keySlot = len(g.slots)
				g.slots = append(g.slots, slot{leaf: -1, expr: g.keyRight})
			}
		}
		if len(g.slots) == 0 {
			g.slots = append(g.slots, slot{leaf: -1, expr: sqlparser.NewIntLiteral("1")})
		}
		if gi > 0 {
			g.start = p.groups[gi-1].start + len(p.groups[gi-1].slots)
		}
	}
	from := &gateFrom{}
	for gi, g := range p.groups {
		fg, err := p.buildGroup(gi, g)
		if err != nil {
			return nil, err
		}
		from.groups = append(from.groups, fg)
	}
	last := p.groups[len(p.groups)-1]
	from.width = last.start + len(last.slots)
	return from, nil
}

// chooseKey picks the equality whose left values group gi's read gets as
// an IN list: one side reading the group alone, the other only groups
// before it; the group's primary vindex column is preferred, as its IN
// list routes to the shards of the values only.
func (p *gatePlanner) chooseKey(gi int, g *fetchGroup) {
	best := -1
	var bestLeft, bestRight sqlparser.Expr
	for _, c := range g.conds {
		cmp, ok := c.(*sqlparser.ComparisonExpr)
		if !ok || cmp.Operator != sqlparser.EqualOp {
			continue
		}
		side := func(e sqlparser.Expr) int { // 1: group alone, 0: earlier groups, -1 neither
			refs, sub := p.refs(e)
			if sub || len(refs) == 0 {
				return -1
			}
			all, none := true, true
			for leaf := range refs {
				if p.leaves[leaf].group == gi {
					none = false
				} else {
					all = false
					if p.leaves[leaf].group > gi {
						return -1
					}
				}
			}
			switch {
			case all:
				return 1
			case none:
				return 0
			}
			return -1
		}
		l, r := cmp.Left, cmp.Right
		ls, rs := side(l), side(r)
		if ls == 1 && rs == 0 {
			l, r, ls, rs = r, l, rs, ls
		}
		if ls != 0 || rs != 1 {
			continue
		}
		score := 1
		if col, ok := r.(*sqlparser.ColName); ok {
			if leaf, ci, found, _ := p.lookup(col); found && p.vindexColumn(leaf, ci) != "" {
				score = 2
			}
		}
		if g.derived {
			// A derived table's read takes no IN list: its rows are
			// hashed by a column of its own.
			if _, isCol := r.(*sqlparser.ColName); !isCol {
				continue
			}
		}
		if score > best {
			best, bestLeft, bestRight = score, l, r
		}
	}
	if best < 0 {
		return
	}
	g.keyLeft, g.keyRight = bestLeft, bestRight
}

// offset implements rowScope over the joined row.
func (p *gatePlanner) offset(c *sqlparser.ColName) (int, bool, error) {
	leaf, col, ok, err := p.lookup(c)
	if err != nil || !ok {
		return 0, ok, err
	}
	g := p.groups[p.leaves[leaf].group]
	for i, s := range g.slots {
		if s.expr == nil && s.leaf == leaf && s.col == col {
			return g.start + i, true, nil
		}
	}
	return 0, false, sqlerr.Internal("column %s is not read", sqlparser.String(c))
}

func (p *gatePlanner) aliases() map[string]bool {
	out := map[string]bool{}
	for _, l := range p.leaves {
		out[l.alias] = true
	}
	return out
}

// buildGroup plans a group's read and its join with the groups before it.
func (p *gatePlanner) buildGroup(gi int, g *fetchGroup) (*gateGroup, error) {
	fg := &gateGroup{width: len(g.slots), start: g.start, left: g.left, keySlot: -1}
	ctx := p.st.ctx
	ctx.SQL = ""
	if g.derived {
		plan, err := NewPlan(sqlparser.Clone(p.leaves[g.leaves[0]].derived.Select), ctx)
		if err != nil {
			return nil, err
		}
		fg.read = plan.Primitive
		p.st.needs.add(plan.Needs)
	} else {
		read := &sqlparser.Select{From: []sqlparser.TableExpr{sqlparser.CloneTableExpr(g.from)}, SelectExprs: &sqlparser.SelectExprs{}}
		for _, s := range g.slots {
			var e sqlparser.Expr
			if s.expr != nil {
				e = sqlparser.CloneExpr(s.expr)
			} else {
				l := p.leaves[s.leaf]
				e = sqlparser.NewColNameWithQualifier(l.columns[s.col], sqlparser.TableName{Name: sqlparser.NewIdentifierCS(l.aliasText)})
			}
			read.SelectExprs.Exprs = append(read.SelectExprs.Exprs, &sqlparser.AliasedExpr{Expr: e})
		}
		where := slices.Clone(g.where)
		if g.keyRight != nil && g.keyLeft != nil {
			fg.keyBindVar = fmt.Sprintf("__sg_jk%d", gi)
			where = append(where, &sqlparser.ComparisonExpr{Operator: sqlparser.InOp, Left: sqlparser.CloneExpr(g.keyRight), Right: sqlparser.NewListArg(fg.keyBindVar)})
		}
		if len(where) > 0 {
			read.Where = sqlparser.NewWhere(sqlparser.WhereClause, sqlparser.AndExpressions(cloneExprs(where)...))
		}
		plan, err := NewPlan(read, ctx)
		if err != nil {
			return nil, err
		}
		fg.read = plan.Primitive
		p.st.needs.add(plan.Needs)
	}
	var err error
	if g.keyLeft != nil {
		if fg.keyLeft, err = p.b.toGateExpr(g.keyLeft, p); err != nil {
			return nil, err
		}
		fg.keySlot = g.keySlot
	}
	if len(g.conds) > 0 {
		if fg.cond, err = p.b.toGateExpr(sqlparser.AndExpressions(g.conds...), p); err != nil {
			return nil, err
		}
	}
	if len(g.post) > 0 {
		if fg.post, err = p.b.toGateExpr(sqlparser.AndExpressions(g.post...), p); err != nil {
			return nil, err
		}
	}
	return fg, nil
}

func cloneExprs(in []sqlparser.Expr) []sqlparser.Expr {
	out := make([]sqlparser.Expr, len(in))
	for i, e := range in {
		out[i] = sqlparser.CloneExpr(e)
	}
	return out
}

// starColumns lists the joined row's offsets of a * (or t.*) in the order
// MySQL returns them: tables in FROM order, columns in definition order.
func (p *gatePlanner) starColumns(star *sqlparser.StarExpr) ([]int, []string, error) {
	q := strings.ToLower(star.TableName.Name.String())
	order := make([]*gateLeaf, len(p.leaves))
	copy(order, p.leaves)
	slices.SortStableFunc(order, func(a, b *gateLeaf) int { return a.fromOrder - b.fromOrder })
	var offs []int
	var names []string
	for _, l := range order {
		if q != "" && l.alias != q {
			continue
		}
		if q == "" && len(l.using) > 0 {
			return nil, nil, p.refuse("SELECT * over JOIN ... USING across shards (name the columns)")
		}
		for _, c := range l.columns {
			off, ok, err := p.offset(sqlparser.NewColNameWithQualifier(c, sqlparser.TableName{Name: sqlparser.NewIdentifierCS(l.aliasText)}))
			if err != nil || !ok {
				return nil, nil, sqlerr.Internal("column %s.%s is not read", l.alias, c)
			}
			offs = append(offs, off)
			names = append(names, c)
		}
	}
	return offs, names, nil
}
