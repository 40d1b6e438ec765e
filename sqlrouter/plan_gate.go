package sqlrouter

import (
	"slices"
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/sqlrouter/vschema"
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
	table     *vschema.Table // nil for a derived table
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

// starColumns lists the columns of a * (or t.*) in the order MySQL
// returns them: tables in FROM order, columns in definition order, each
// qualified by its table's alias, with their names. They are columns, not
// row offsets, so that a grouped query translates them as it translates
// any column (a value of the group).
func (p *gatePlanner) starColumns(star *sqlparser.StarExpr) ([]*sqlparser.ColName, []string, error) {
	q := strings.ToLower(star.TableName.Name.String())
	order := make([]*gateLeaf, len(p.leaves))
	copy(order, p.leaves)
	slices.SortStableFunc(order, func(a, b *gateLeaf) int { return a.fromOrder - b.fromOrder })
	var cols []*sqlparser.ColName
	var names []string
	for _, l := range order {
		if q != "" && l.alias != q {
			continue
		}
		if q == "" && len(l.using) > 0 {
			return nil, nil, p.refuse("SELECT * over JOIN ... USING across shards (name the columns)")
		}
		for _, c := range l.columns {
			col := sqlparser.NewColNameWithQualifier(c, sqlparser.TableName{Name: sqlparser.NewIdentifierCS(l.aliasText)})
			if _, ok, err := p.offset(col); err != nil || !ok {
				return nil, nil, sqlerr.Internal("column %s.%s is not read", l.alias, c)
			}
			cols = append(cols, col)
			names = append(names, c)
		}
	}
	return cols, names, nil
}
