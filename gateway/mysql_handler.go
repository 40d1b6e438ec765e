package gateway

import (
	"context"

	"vitess.io/vitess/go/sqlescape"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/gateway/mysqlserver"
	"github.com/shardgate/shardgate/internal/sqlerr"
)

// mysqlHandler adapts the Executor to the MySQL protocol server
// (gateway/mysqlserver), which owns the wire format: handshake,
// authentication, packets, the binary protocol of prepared statements,
// and recovering from panics. Each connection's *Session is stored in its
// Conn; the server reads its status flags and warning count after every
// statement.
type mysqlHandler struct {
	executor *Executor
	metrics  *metrics
}

var _ mysqlserver.Handler = (*mysqlHandler)(nil)

func session(c *mysqlserver.Conn) *Session {
	s, _ := c.Session().(*Session)
	return s
}

func (h *mysqlHandler) NewConnection(c *mysqlserver.Conn) error {
	c.SetSession(NewSession(c.ID(), c.User()))
	h.metrics.connections.Inc()
	h.metrics.connsTotal.Inc()
	return nil
}

func (h *mysqlHandler) ConnectionClosed(c *mysqlserver.Conn) {
	h.metrics.connections.Dec()
	if s := session(c); s != nil {
		h.executor.CloseSession(s)
	}
}

func (h *mysqlHandler) ComQuery(ctx context.Context, c *mysqlserver.Conn, query string, w func(*sqltypes.Result) error) error {
	if err := h.executor.StreamExecute(ctx, session(c), query, nil, w); err != nil {
		return sqlerr.From(err)
	}
	return nil
}

func (h *mysqlHandler) ComPrepare(ctx context.Context, c *mysqlserver.Conn, stmtID uint32, query string) (int, []*querypb.Field, error) {
	fields, n, err := h.executor.Prepare(ctx, session(c), stmtID, query)
	if err != nil {
		return 0, nil, sqlerr.From(err)
	}
	return n, fields, nil
}

func (h *mysqlHandler) ComStmtExecute(ctx context.Context, c *mysqlserver.Conn, stmtID uint32, bindVars map[string]*querypb.BindVariable, w func(*sqltypes.Result) error) error {
	if err := h.executor.StreamExecutePrepared(ctx, session(c), stmtID, bindVars, w); err != nil {
		return sqlerr.From(err)
	}
	return nil
}

func (h *mysqlHandler) ComStmtClose(c *mysqlserver.Conn, stmtID uint32) {
	h.executor.ClosePrepared(session(c), stmtID)
}

// ComInitDB selects the database (COM_INIT_DB, and the one named at
// connect) as USE does: a keyspace or a target ("ks:-80", "ks@replica").
func (h *mysqlHandler) ComInitDB(ctx context.Context, c *mysqlserver.Conn, db string) error {
	if err := h.executor.StreamExecute(ctx, session(c), "use "+sqlescape.EscapeID(db), nil, func(*sqltypes.Result) error { return nil }); err != nil {
		return sqlerr.From(err)
	}
	return nil
}

// ComResetConnection starts a fresh session (the old one's transaction is
// rolled back) for the same user, keeping the database as MariaDB does:
// its target ("ks", "ks:-80", "ks@replica"), which is what USE chose.
func (h *mysqlHandler) ComResetConnection(_ context.Context, c *mysqlserver.Conn) error {
	old := session(c)
	h.executor.CloseSession(old)
	fresh := NewSession(c.ID(), c.User())
	fresh.Keyspace, fresh.Shard, fresh.TabletType = old.Keyspace, old.Shard, old.TabletType
	c.SetSession(fresh)
	return nil
}

// ComChangeUser starts a fresh session for the new user, keeping nothing
// of the old one but the connection id, and selects db.
func (h *mysqlHandler) ComChangeUser(ctx context.Context, c *mysqlserver.Conn, db string) error {
	h.executor.CloseSession(session(c))
	c.SetSession(NewSession(c.ID(), c.User()))
	if db == "" {
		return nil
	}
	return h.ComInitDB(ctx, c, db)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
