package gateway

import (
	"context"
	"sync"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// KILL [QUERY | CONNECTION] id, on the gate's own connection ids.
//
// The MySQL front end registers each connection's session with the
// executor, and runs each statement under a context the session can
// cancel. KILL QUERY cancels the target's running statement: cancelling
// reaches every shard call it has in flight, and the tablets kill the
// statement in MariaDB, so it stops everywhere, not only at the gate.
// KILL CONNECTION also closes the target's client connection, whose end
// rolls back its transaction and releases its locks. As in MariaDB, a
// user may kill its own sessions; a user with the admin right on every
// keyspace (grants "*", or no grants listed) may kill any.

// liveSessions are the MySQL connections' sessions, by connection id.
type liveSessions struct {
	mu   sync.Mutex
	byID map[uint32]*Session
}

func (l *liveSessions) add(s *Session) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byID == nil {
		l.byID = map[uint32]*Session{}
	}
	l.byID[s.ConnectionID] = s
}

func (l *liveSessions) remove(s *Session) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byID[s.ConnectionID] == s {
		delete(l.byID, s.ConnectionID)
	}
}

func (l *liveSessions) get(id uint32) *Session {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byID[id]
}

// interruption is what a session needs to be stopped from another
// goroutine: its running statement's cancel, and how to close its
// connection.
type interruption struct {
	mu        sync.Mutex
	cancel    context.CancelFunc
	closeConn func()
}

// OpenSession registers a MySQL connection's session for KILL; closeConn
// closes the client connection.
func (e *Executor) OpenSession(s *Session, closeConn func()) {
	s.interrupt.mu.Lock()
	s.interrupt.closeConn = closeConn
	s.interrupt.mu.Unlock()
	s.connectionBound = true
	e.sessions.add(s)
}

// StatementContext returns the context a session's statement runs under
// and the function to call when it ends: KILL QUERY cancels it meanwhile.
func (s *Session) StatementContext(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	s.interrupt.mu.Lock()
	s.interrupt.cancel = cancel
	s.interrupt.mu.Unlock()
	return ctx, func() {
		s.interrupt.mu.Lock()
		s.interrupt.cancel = nil
		s.interrupt.mu.Unlock()
		cancel()
	}
}

func (s *Session) cancelStatement() {
	s.interrupt.mu.Lock()
	defer s.interrupt.mu.Unlock()
	if s.interrupt.cancel != nil {
		s.interrupt.cancel()
	}
}

func (s *Session) closeConnection() {
	s.interrupt.mu.Lock()
	closeConn := s.interrupt.closeConn
	s.interrupt.mu.Unlock()
	s.cancelStatement()
	if closeConn != nil {
		closeConn()
	}
}

// erNoSuchThread is MariaDB's ER_NO_SUCH_THREAD; erKillDenied its
// ER_KILL_DENIED_ERROR.
const (
	erNoSuchThread = 1094
	erKillDenied   = 1095
)

// kill handles KILL [QUERY | CONNECTION] id.
func (e *Executor) kill(s *Session, stmt *sqlparser.Kill) (*sqltypes.Result, error) {
	if stmt.ProcesslistID > 0xffffffff {
		return nil, sqlerr.New(erNoSuchThread, sqlerror.SSUnknownSQLState, "Unknown thread id: %d", stmt.ProcesslistID)
	}
	target := e.sessions.get(uint32(stmt.ProcesslistID))
	if target == nil {
		return nil, sqlerr.New(erNoSuchThread, sqlerror.SSUnknownSQLState, "Unknown thread id: %d", stmt.ProcesslistID)
	}
	if target.User != s.User && !e.authz.rights(s).allows("*", "", RightAdmin) {
		return nil, sqlerr.New(erKillDenied, sqlerror.SSUnknownSQLState, "You are not owner of thread %d", stmt.ProcesslistID)
	}
	if stmt.Type == sqlparser.QueryType {
		target.cancelStatement()
	} else {
		target.closeConnection()
	}
	return &sqltypes.Result{}, nil
}
