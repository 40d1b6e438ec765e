package sqlrouter

import (
	"context"
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// QueryRows applies the WHERE, ORDER BY and LIMIT of a SELECT * to rows
// the gate holds itself (a table of its own, such as SHOW QUERY STATS),
// with the same evaluation as rows read from shards: MySQL's comparison
// and functions. Columns are named by their fields; ORDER BY takes
// columns by name or position. res is changed and returned.
func QueryRows(ctx context.Context, sel *sqlparser.Select, res *sqltypes.Result) (*sqltypes.Result, error) {
	if len(sel.SelectExprs.Exprs) != 1 || sel.GroupBy != nil || sel.Having != nil || len(sel.From) != 1 {
		return nil, sqlerr.Unsupported("only WHERE, ORDER BY and LIMIT here")
	}
	if _, star := sel.SelectExprs.Exprs[0].(*sqlparser.StarExpr); !star {
		return nil, sqlerr.Unsupported("only WHERE, ORDER BY and LIMIT here")
	}
	column := func(name string) (int, error) {
		for i, f := range res.Fields {
			if strings.EqualFold(f.Name, name) {
				return i, nil
			}
		}
		return 0, sqlerr.New(sqlerror.ERBadFieldError, sqlerror.SSBadFieldError, "Unknown column '%s' in 'where clause'", name)
	}
	if sel.Where != nil {
		var failed error
		ast := sqlparser.Rewrite(sqlparser.CloneExpr(sel.Where.Expr), nil, func(c *sqlparser.Cursor) bool {
			if col, ok := c.Node().(*sqlparser.ColName); ok {
				i, err := column(col.Name.String())
				if err != nil {
					failed = err
					return false
				}
				c.Replace(newOffset(i))
			}
			return true
		})
		if failed != nil {
			return nil, failed
		}
		ev := newEvaluator(ctx, nil, nil, res.Fields)
		cond := &gateExpr{ast: ast.(sqlparser.Expr)}
		kept := res.Rows[:0]
		for _, row := range res.Rows {
			ok, err := ev.truth(cond, row)
			if err != nil {
				return nil, err
			}
			if ok {
				kept = append(kept, row)
			}
		}
		res.Rows = kept
	}
	if len(sel.OrderBy) > 0 {
		keys := make([]orderKey, len(sel.OrderBy))
		for i, o := range sel.OrderBy {
			keys[i].desc = o.Direction == sqlparser.DescOrder
			switch e := o.Expr.(type) {
			case *sqlparser.ColName:
				idx, err := column(e.Name.String())
				if err != nil {
					return nil, sqlerr.New(sqlerror.ERBadFieldError, sqlerror.SSBadFieldError, "Unknown column '%s' in 'order clause'", e.Name.String())
				}
				keys[i].col = colRef{index: idx}
			case *sqlparser.Literal:
				v, err := evalValue(e, nil)
				n, convErr := v.ToInt64()
				if err != nil || convErr != nil || n < 1 || int(n) > len(res.Fields) {
					return nil, sqlerr.New(sqlerror.ERBadFieldError, sqlerror.SSBadFieldError, "Unknown column '%s' in 'order clause'", sqlparser.String(e))
				}
				keys[i].col = colRef{index: int(n) - 1}
			default:
				return nil, sqlerr.Unsupported("ORDER BY %s here (order by a column's name or position)", sqlparser.String(o.Expr))
			}
		}
		if err := sortRows(res.Fields, res.Rows, keys, false); err != nil {
			return nil, err
		}
	}
	if sel.Limit != nil {
		rows, err := applyLimit(res.Rows, sel.Limit.Rowcount, sel.Limit.Offset, nil)
		if err != nil {
			return nil, err
		}
		res.Rows = rows
	}
	return res, nil
}
