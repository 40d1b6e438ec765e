package mysqlserver

import (
	"context"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

// Handler runs what clients ask for. The server calls it from the
// connection's goroutine, one command at a time per connection, so a
// handler needs no locking for per-connection state (keep it in the Conn's
// Session); calls for different connections run concurrently.
//
// Errors returned by a Handler are sent to the client: a
// *sqlerror.SQLError keeps its code, SQLSTATE and message; any other
// error becomes 1105 (HY000) with the error's text. A panic is recovered,
// logged with its stack and answered with 1105; the connection goes on.
type Handler interface {
	// NewConnection is called once a client has logged in, before its
	// database (if it named one) is selected with ComInitDB. The handler
	// sets the connection's session (c.SetSession). An error refuses the
	// connection.
	NewConnection(c *Conn) error
	// ConnectionClosed is called once when a connection that
	// NewConnection accepted ends, whatever the reason.
	ConnectionClosed(c *Conn)

	// ComQuery runs one statement (the server splits multi-statement
	// text with Config.SplitStatements). Results go to w: a first Result
	// with Fields starts a result set, and that and later Results add
	// rows; Results without Fields, when no result set was started, make
	// the OK packet (RowsAffected added up, InsertID and Info of the
	// last). w is not safe for concurrent use. The server may keep the
	// Results it is given; the handler must not modify them afterwards.
	ComQuery(ctx context.Context, c *Conn, sql string, w func(*sqltypes.Result) error) error

	// ComPrepare prepares a statement the server has numbered stmtID: it
	// returns the number of parameters and the columns of its result
	// (none for statements without one).
	ComPrepare(ctx context.Context, c *Conn, stmtID uint32, sql string) (params int, columns []*querypb.Field, err error)
	// ComStmtExecute runs a prepared statement with its parameters bound
	// as "v1".."vN" (NULL as sqltypes.NullBindVariable). Results go to w
	// as for ComQuery.
	ComStmtExecute(ctx context.Context, c *Conn, stmtID uint32, bindVars map[string]*querypb.BindVariable, w func(*sqltypes.Result) error) error
	// ComStmtClose forgets a prepared statement: on COM_STMT_CLOSE, and
	// for each open statement on COM_CHANGE_USER, COM_RESET_CONNECTION
	// and when the connection ends (before ConnectionClosed).
	ComStmtClose(c *Conn, stmtID uint32)

	// ComInitDB selects the default database (COM_INIT_DB, and the
	// database a client names at connect).
	ComInitDB(ctx context.Context, c *Conn, db string) error
	// ComResetConnection resets the session (COM_RESET_CONNECTION).
	ComResetConnection(ctx context.Context, c *Conn) error
	// ComChangeUser is called after a COM_CHANGE_USER's new credentials
	// were accepted (c.User() is the new user): the handler starts a
	// fresh session and selects db when it is not empty. On error the
	// client gets it and the connection keeps whatever session the
	// handler left.
	ComChangeUser(ctx context.Context, c *Conn, db string) error
}

// FieldLister answers COM_FIELD_LIST (the columns of a table, which the
// mariadb command-line client asks for its completion). Without it, the
// server answers with no columns.
type FieldLister interface {
	ComFieldList(ctx context.Context, c *Conn, table, wildcard string) ([]*querypb.Field, error)
}

// StatisticsReporter answers COM_STATISTICS (mariadb-admin status) with
// one line of text. Without it, the server writes MariaDB's line from its
// own counters (Server.Stats).
type StatisticsReporter interface {
	ComStatistics(c *Conn) string
}

// ProcessKiller answers COM_PROCESS_KILL (mariadb-admin kill), for
// handlers that keep their own rules of who may kill what (and their own
// KILL statement). Without it, the server kills by Server.Kill: a user's
// own connections only.
type ProcessKiller interface {
	ComProcessKill(ctx context.Context, c *Conn, id uint32) error
}

// SessionState is what the server asks a connection's session (the value
// given to Conn.SetSession), when it implements it, for every OK and EOF
// packet. Without it, the server reports autocommit on and no warnings.
type SessionState interface {
	// StatusFlags are the session's SERVER_STATUS_* flags: autocommit,
	// in transaction, read-only transaction. The server adds the flags it
	// owns (more results, cursor, session state changed) itself.
	StatusFlags() uint16
	// WarningCount is the number of warnings of the last statement.
	WarningCount() uint16
}

// SessionTracker is implemented by sessions that report changes of their
// state for clients that asked for them (CLIENT_SESSION_TRACK). The server
// calls TakeSessionChanges for every OK packet it sends (also for clients
// that did not ask, which then get nothing): the changes since the last
// call, in the order they happened.
type SessionTracker interface {
	TakeSessionChanges() []SessionChange
}

// SessionChangeKind is the kind of a tracked session change.
type SessionChangeKind uint8

// Kinds of session changes, numbered as the protocol numbers them.
const (
	// SystemVariableChange: a tracked system variable (MariaDB's default
	// list: autocommit, character_set_client, character_set_connection,
	// character_set_results, time_zone) took Value.
	SystemVariableChange SessionChangeKind = 0
	// SchemaChange: the default database is now Name.
	SchemaChange SessionChangeKind = 1
	// StateChange: some session state changed (session_track_state_change).
	StateChange SessionChangeKind = 2
)

// SessionChange is one tracked change of a session's state.
type SessionChange struct {
	Kind  SessionChangeKind
	Name  string // variable or schema name
	Value string // variable value
}
