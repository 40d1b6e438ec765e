package sqlrouter

import (
	"fmt"
	"slices"
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"
)

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

// gateGroup is one group's read and how its rows join the rows before it.
type gateGroup struct {
	read         Primitive
	width, start int
	left         bool // LEFT JOIN: rows before it without a match stay, with NULLs
	// keyLeft computes, over the rows before this group, the values sent to
	// its read as the IN list keyBindVar; keySlot is the column of its own
	// rows those values are compared with (-1: no key).
	keyLeft    *gateExpr
	keySlot    int
	keyBindVar string
	cond       *gateExpr // decides which row pairs match
	post       *gateExpr // filters the joined rows
}

// joinTree composes the groups' reads into the joined rows: each group
// joins the rows of the groups before it (Join), then the conditions that
// need it are applied (Filter).
func joinTree(groups []*gateGroup) Primitive {
	var p Primitive
	for gi, g := range groups {
		if gi == 0 {
			p = g.read
		} else {
			p = &Join{left: p, right: g.read, rightWidth: g.width, leftJoin: g.left,
				keyLeft: g.keyLeft, keySlot: g.keySlot, keyBindVar: g.keyBindVar, cond: g.cond}
		}
		if g.post != nil {
			p = &Filter{input: p, cond: g.post, label: "where"}
		}
	}
	return p
}

// buildFrom chooses join keys, lays out the joined row and plans each
// group's read; the result is the joined rows.
func (p *gatePlanner) buildFrom() (Primitive, error) {
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
	var groups []*gateGroup
	for gi, g := range p.groups {
		fg, err := p.buildGroup(gi, g)
		if err != nil {
			return nil, err
		}
		groups = append(groups, fg)
	}
	return joinTree(groups), nil
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
