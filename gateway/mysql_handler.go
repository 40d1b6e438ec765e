package gateway

import (
	"context"
	"runtime/debug"

	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/replication"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/vtenv"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// mysqlHandler adapts the Executor to Vitess's MySQL protocol listener,
// which owns the wire format: handshake, authentication, packets, the
// binary protocol of prepared statements.
type mysqlHandler struct {
	mysql.UnimplementedHandler
	executor *Executor
	env      *vtenv.Environment
	log      *zap.Logger
	metrics  *metrics
}

func session(c *mysql.Conn) *Session {
	s, _ := c.ClientData.(*Session)
	return s
}

func (h *mysqlHandler) NewConnection(c *mysql.Conn) {
	s := NewSession(c.ConnectionID, "")
	c.ClientData = s
	c.StatusFlags = s.StatusFlags()
	h.executor.OpenSession(s, c.Close)
	h.metrics.connections.Inc()
	h.metrics.connsTotal.Inc()
}

// ConnectionReady records the user. The listener itself selects the
// database named at connect by running "use <db>" through ComQuery.
func (h *mysqlHandler) ConnectionReady(c *mysql.Conn) {
	s := session(c)
	s.User = c.User
	s.ClientCollation = uint32(c.CharacterSet)
	s.ClientFoundRows = c.Capabilities&mysql.CapabilityClientFoundRows != 0
}

func (h *mysqlHandler) ConnectionClosed(c *mysql.Conn) {
	h.metrics.connections.Dec()
	if s := session(c); s != nil {
		h.executor.CloseSession(s)
	}
}

// guard turns a panic in statement handling into an error for this
// connection only: no input may take the gate down.
func (h *mysqlHandler) guard(c *mysql.Conn, query string, err *error) {
	if r := recover(); r != nil {
		h.log.Error("panic while handling a statement", zap.Uint32("connection_id", c.ConnectionID), zap.String("query", truncate(query, 1000)),
			zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		*err = sqlerr.Internal("internal error in Shardgate while handling this statement (logged on the gate): %v", r)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// reportStatus wraps a statement's result callback so that the listener,
// which writes OK and EOF packets with c.StatusFlags, sends the session's
// flags as they stand once the statement has run; after returns, the flags
// are set again for the end packet of a streamed result and for an error.
func reportStatus(c *mysql.Conn, s *Session, callback func(*sqltypes.Result) error) (wrapped func(*sqltypes.Result) error, after func()) {
	wrapped = func(r *sqltypes.Result) error {
		c.StatusFlags = s.StatusFlags()
		if len(r.Fields) > 0 {
			r.Fields = fieldsForClient(r.Fields, s.ClientCollation)
		}
		return callback(r)
	}
	return wrapped, func() { c.StatusFlags = s.StatusFlags() }
}

func (h *mysqlHandler) ComQuery(c *mysql.Conn, query string, callback func(*sqltypes.Result) error) (err error) {
	defer h.guard(c, query, &err)
	s := session(c)
	callback, after := reportStatus(c, s, callback)
	defer after()
	ctx, done := s.StatementContext(context.Background())
	defer done()
	if err := h.executor.StreamExecute(ctx, s, query, nil, callback); err != nil {
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

func (h *mysqlHandler) ComPrepare(c *mysql.Conn, query string) (fields []*querypb.Field, params uint16, err error) {
	defer h.guard(c, query, &err)
	s := session(c)
	// The listener closes statements (COM_STMT_CLOSE) without telling the
	// handler: forget plans of statements it no longer holds.
	for id := range s.prepared {
		if _, open := c.PrepareData[id]; !open {
			h.executor.ClosePrepared(s, id)
		}
	}
	// The listener numbers the statement after this call returns.
	fields, n, err := h.executor.Prepare(context.Background(), s, c.StatementID+1, query)
	if err != nil {
		return nil, 0, sqlerr.From(err)
	}
	fields = fieldsForClient(fields, s.ClientCollation)
	if n > 65535 {
		return nil, 0, sqlerr.New(1390, "HY000", "Prepared statement contains too many placeholders (%d)", n)
	}
	return fields, uint16(n), nil
}

func (h *mysqlHandler) ComStmtExecute(c *mysql.Conn, prepare *mysql.PrepareData, callback func(*sqltypes.Result) error) (err error) {
	defer h.guard(c, prepare.PrepareStmt, &err)
	s := session(c)
	callback, after := reportStatus(c, s, callback)
	defer after()
	ctx, done := s.StatementContext(context.Background())
	defer done()
	if err := h.executor.StreamExecutePrepared(ctx, s, prepare.StatementID, prepare.BindVars, callback); err != nil {
		return interrupted(ctx, err)
	}
	return nil
}

func (h *mysqlHandler) ComResetConnection(c *mysql.Conn) {
	s := session(c)
	h.executor.CloseSession(s)
	fresh := NewSession(c.ConnectionID, s.User)
	fresh.Keyspace, fresh.ClientCollation, fresh.ClientFoundRows = s.Keyspace, s.ClientCollation, s.ClientFoundRows
	c.ClientData = fresh
	c.StatusFlags = fresh.StatusFlags()
	h.executor.OpenSession(fresh, c.Close)
}

// ComQueryMulti is not used: the listener splits multi-statement packets
// itself and calls ComQuery for each statement.
func (h *mysqlHandler) ComQueryMulti(*mysql.Conn, string, func(sqltypes.QueryResponse, bool, bool) error) error {
	return sqlerr.Unsupported("multi-statement execution through ComQueryMulti")
}

func (h *mysqlHandler) ComRegisterReplica(*mysql.Conn, string, uint16, string, string) error {
	return sqlerr.Unsupported("replicating from the gate (COM_REGISTER_SLAVE)")
}

func (h *mysqlHandler) ComBinlogDump(*mysql.Conn, string, uint32) error {
	return sqlerr.Unsupported("binlog streaming from the gate (COM_BINLOG_DUMP)")
}

func (h *mysqlHandler) ComBinlogDumpGTID(*mysql.Conn, string, uint64, replication.GTIDSet, uint16) error {
	return sqlerr.Unsupported("binlog streaming from the gate (COM_BINLOG_DUMP_GTID)")
}

func (h *mysqlHandler) WarningCount(c *mysql.Conn) uint16 { return session(c).WarningCount() }

func (h *mysqlHandler) Env() *vtenv.Environment { return h.env }
