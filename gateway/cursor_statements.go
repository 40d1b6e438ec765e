package gateway

import (
	"context"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/sqlrouter"
)

// ExecuteStatement implements sqlrouter.VCursor: a statement the router
// makes itself (a lookup vindex's) is planned and run like a client's, in
// the session or, with autocommit, in a session of its own that commits
// each statement.
func (c *cursor) ExecuteStatement(ctx context.Context, keyspace, sql string, bv map[string]*vquerypb.BindVariable, autocommit bool) (*sqltypes.Result, error) {
	stmt, err := c.e.parser.Parse(sql)
	if err != nil {
		return nil, sqlerr.New(sqlerror.ERParseError, sqlerror.SSClientError, "internal statement %q: %s", sql, err.Error())
	}
	s := c.s
	if autocommit {
		s = NewSession(c.s.ConnectionID, c.s.User)
		s.TabletType = topopb.TabletType_PRIMARY
		s.settings, s.settingsPrefix = c.s.settings, c.s.settingsPrefix
	}
	ctxPlan := c.e.planContext(s, sql)
	ctxPlan.Keyspace = keyspace
	if keyspace == "" {
		ctxPlan.Keyspace = c.s.Keyspace
	}
	plan, err := sqlrouter.NewPlan(stmt, ctxPlan)
	if err != nil {
		return nil, err
	}
	return plan.Execute(ctx, &cursor{e: c.e, s: s}, bv)
}

// Atomically implements sqlrouter.VCursor.
func (c *cursor) Atomically(ctx context.Context, fn func() error) error {
	if c.s.InTransaction {
		return fn()
	}
	c.s.InTransaction = true
	if err := fn(); err != nil {
		c.e.rollback(ctx, c.s)
		return err
	}
	return c.e.commit(ctx, c.s)
}

// InTransaction implements sqlrouter.VCursor.
func (c *cursor) InTransaction() bool { return c.s.InTransaction }

// SetFoundRows implements sqlrouter.FoundRowsSetter: what FOUND_ROWS()
// answers after a SELECT SQL_CALC_FOUND_ROWS.
func (c *cursor) SetFoundRows(n uint64) { c.s.FoundRows = n }
