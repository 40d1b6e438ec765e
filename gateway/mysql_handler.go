package gateway

import (
	"context"
	"strconv"

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
// Conn; the server reads its status flags and warning count for every OK
// and EOF packet it writes.
type mysqlHandler struct {
	executor *Executor
	metrics  *metrics
}

var (
	_ mysqlserver.Handler       = (*mysqlHandler)(nil)
	_ mysqlserver.ProcessKiller = (*mysqlHandler)(nil)
	_ mysqlserver.SessionState  = (*Session)(nil)
)

func session(c *mysqlserver.Conn) *Session {
	s, _ := c.Session().(*Session)
	return s
}

// newSession gives c a fresh session, registered for KILL.
func (h *mysqlHandler) newSession(c *mysqlserver.Conn) *Session {
	s := NewSession(c.ID(), c.User())
	s.ClientCollation = uint32(c.Charset())
	s.ClientFoundRows = c.Capabilities()&mysqlserver.CapFoundRows != 0
	s.idleTimeout = c.SetIdleTimeout
	s.LocalFiles = c.LocalFile
	if addr := c.RemoteAddr(); addr != nil {
		s.ClientAddr = addr.String()
	}
	c.SetSession(s)
	h.executor.OpenSession(s, c.Close)
	return s
}

func (h *mysqlHandler) NewConnection(c *mysqlserver.Conn) error {
	if err := h.executor.connections.open(c.User(), h.executor.maxUserConnections(c.User())); err != nil {
		return err
	}
	h.newSession(c)
	h.metrics.connections.Inc()
	h.metrics.connsTotal.Inc()
	return nil
}

func (h *mysqlHandler) ConnectionClosed(c *mysqlserver.Conn) {
	h.executor.connections.close(c.User())
	h.metrics.connections.Dec()
	if s := session(c); s != nil {
		h.executor.CloseSession(s)
	}
}

// forClient describes result columns in the client's collation, as
// MariaDB does (charset.go).
func forClient(s *Session, w func(*sqltypes.Result) error) func(*sqltypes.Result) error {
	return func(r *sqltypes.Result) error {
		if len(r.Fields) > 0 {
			r.Fields = fieldsForClient(r.Fields, s.ClientCollation)
		}
		return w(r)
	}
}

func (h *mysqlHandler) ComQuery(ctx context.Context, c *mysqlserver.Conn, query string, w func(*sqltypes.Result) error) error {
	s := session(c)
	ctx, done := s.StatementContext(ctx)
	defer done()
	if err := h.executor.StreamExecute(ctx, s, query, nil, forClient(s, w)); err != nil {
		return interrupted(ctx, err)
	}
	return nil
}

// interrupted reports a statement that KILL QUERY stopped as MariaDB
// does, whatever error its parts returned when they were cancelled.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return sqlerr.Interrupted("Query execution was interrupted")
	}
	return sqlerr.From(err)
}

func (h *mysqlHandler) ComPrepare(ctx context.Context, c *mysqlserver.Conn, stmtID uint32, query string) (int, []*querypb.Field, error) {
	s := session(c)
	fields, n, err := h.executor.Prepare(ctx, s, stmtID, query)
	if err != nil {
		return 0, nil, sqlerr.From(err)
	}
	return n, fieldsForClient(fields, s.ClientCollation), nil
}

func (h *mysqlHandler) ComStmtExecute(ctx context.Context, c *mysqlserver.Conn, stmtID uint32, bindVars map[string]*querypb.BindVariable, w func(*sqltypes.Result) error) error {
	s := session(c)
	ctx, done := s.StatementContext(ctx)
	defer done()
	if err := h.executor.StreamExecutePrepared(ctx, s, stmtID, bindVars, forClient(s, w)); err != nil {
		return interrupted(ctx, err)
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
// rolled back, its locks released) for the same user, keeping what
// MariaDB keeps: the database (here its target: "ks", "ks:-80",
// "ks@replica") and the client's character set (and, with the
// connection's capabilities, CLIENT_FOUND_ROWS).
func (h *mysqlHandler) ComResetConnection(_ context.Context, c *mysqlserver.Conn) error {
	old := session(c)
	h.executor.CloseSession(old)
	fresh := h.newSession(c)
	fresh.Keyspace, fresh.Shard, fresh.TabletType = old.Keyspace, old.Shard, old.TabletType
	fresh.ClientCollation = old.ClientCollation
	return nil
}

// ComChangeUser starts a fresh session for the new user, keeping nothing
// of the old one but the connection id (and the character set the client
// sent with the command), and selects db.
func (h *mysqlHandler) ComChangeUser(ctx context.Context, c *mysqlserver.Conn, db string) error {
	h.executor.CloseSession(session(c))
	h.newSession(c)
	if db == "" {
		return nil
	}
	return h.ComInitDB(ctx, c, db)
}

// ComProcessKill answers COM_PROCESS_KILL (mariadb-admin kill) as KILL
// CONNECTION does: a user may kill its own connections, root any.
func (h *mysqlHandler) ComProcessKill(ctx context.Context, c *mysqlserver.Conn, id uint32) error {
	if err := h.executor.StreamExecute(ctx, session(c), "kill connection "+strconv.FormatUint(uint64(id), 10), nil, func(*sqltypes.Result) error { return nil }); err != nil {
		return sqlerr.From(err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
