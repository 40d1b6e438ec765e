package sqlrouter

import (
	"slices"
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// flatten reads the FROM clause into leaves joined one after another.
func (p *gatePlanner) flatten() error {
	for _, te := range p.sel.From {
		if err := p.addTableExpr(te, false, nil); err != nil {
			return err
		}
	}
	for i, l := range p.leaves {
		for _, other := range p.leaves[:i] {
			if l.alias == other.alias {
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
