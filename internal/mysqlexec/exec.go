// Package mysqlexec runs one statement on a pooled MariaDB connection the
// way a shard answers it, whoever runs it: the tablet for everything it
// serves, and the gate for the autocommit reads it sends straight to a
// shard's MariaDB (gateway/direct_reads.go). Both must give a client the
// same result, error and warnings for the same statement, so the rules
// live here once:
//
//   - a deadline, past which the statement is killed on the server
//     (KILL QUERY over a connection of its own) and the connection, which
//     the kill may still reach, is not reused;
//   - a row limit, past which a read fails with a message that says so;
//   - the statement's warnings, read on its connection before anything
//     else clears them;
//   - the column flags MariaDB sent, without the NUM_FLAG Vitess's client
//     adds, and JSON columns marked (json_columns.go);
//   - MariaDB's errors as they are, except that a lost connection says
//     where it was lost.
package mysqlexec

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/internal/connpool"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
)

// Server runs statements on one MariaDB server's connections.
type Server struct {
	// where names the server in errors: "tablet zone1-100 (commerce/-80)".
	where  string
	params *mysql.ConnParams
	log    *zap.Logger
	json   jsonColumns
}

// NewServer returns a Server for the MariaDB that params reach; its
// DbName is the database whose JSON columns are marked. where names the
// server in the errors clients see.
func NewServer(where string, params *mysql.ConnParams, log *zap.Logger) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	return &Server{where: where, params: params, log: log}
}

// Limits bound one statement.
type Limits struct {
	Timeout time.Duration
	MaxRows int
}

// Result is a statement's result with its warnings.
type Result struct {
	*sqltypes.Result
	// Warnings is MariaDB's count; WarningList what SHOW WARNINGS kept of
	// them (at most max_error_count).
	Warnings    uint16
	WarningList []*querypb.Warning
}

// Run executes sql on conn within lim. killed reports that the deadline
// or the caller's cancellation started a kill: the connection is then
// marked broken and the error says why the statement stopped.
func (s *Server) Run(ctx context.Context, conn *connpool.Conn, sql string, lim Limits) (res *Result, killed bool, err error) {
	s.NoteDDL(sql)
	ctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	stopKill := s.KillOnDone(ctx, conn)

	// The client drains and refuses a result of more than MaxRows rows.
	qr, warnings, err := conn.ExecuteFetchWithWarningCount(sql, lim.MaxRows, true)
	var warningList []*querypb.Warning
	if err == nil && warnings > 0 {
		// Read them now, on this connection, before another statement
		// clears them: the gate answers its client's SHOW WARNINGS.
		warningList = s.readWarnings(conn)
	}
	if !stopKill() {
		// The kill started (ctx ended): it may still be on its way and
		// must not hit this connection's next statement.
		conn.MarkBroken()
		return nil, true, s.InterruptError(ctx, lim.Timeout)
	}
	if err != nil {
		if isRowLimit(err) {
			return nil, false, sqlerr.New(sqlerror.ERUnknownError, sqlerror.SSUnknownSQLState,
				"row limit exceeded: the statement returned more than %d rows on %s; add a LIMIT or a narrower WHERE, or raise --max-rows", lim.MaxRows, s.where)
		}
		connpool.NoteError(conn, err)
		return nil, false, s.Error(err)
	}
	s.FixFields(conn, qr.Fields)
	// Only what a shard's answer carries: the status flags and session
	// tracking of this pooled connection are not the client's.
	out := &sqltypes.Result{Fields: qr.Fields, Rows: qr.Rows, RowsAffected: qr.RowsAffected, InsertID: qr.InsertID, Info: qr.Info}
	return &Result{Result: out, Warnings: warnings, WarningList: warningList}, false, nil
}

// KillOnDone kills the statement running on conn when ctx ends first. The
// returned stop reports whether it prevented the kill; when it did not,
// the caller must not reuse conn.
func (s *Server) KillOnDone(ctx context.Context, conn *connpool.Conn) (stop func() bool) {
	connID := conn.ID()
	return context.AfterFunc(ctx, func() { s.kill(connID) })
}

// FixFields makes the column definitions MariaDB sent what the gate's
// clients must see: MariaDB's flags, and JSON columns marked. With conn
// nil (its result is still being read) the JSON columns known are used.
func (s *Server) FixFields(conn *connpool.Conn, fields []*vquerypb.Field) {
	stripClientFlags(fields)
	s.markJSONColumns(conn, fields)
}

// readWarnings returns what SHOW WARNINGS says on conn (at most MariaDB's
// default max_error_count of them). A failure to read them loses only the
// warnings: the statement's result stands.
func (s *Server) readWarnings(conn *connpool.Conn) []*querypb.Warning {
	res, err := conn.ExecuteFetch("SHOW WARNINGS", 64, false)
	if err != nil {
		connpool.NoteError(conn, err)
		s.log.Info("cannot read a statement's warnings", zap.Error(err))
		return nil
	}
	out := make([]*querypb.Warning, 0, len(res.Rows))
	for _, row := range res.Rows {
		if len(row) < 3 {
			continue
		}
		code, _ := row[1].ToUint64()
		out = append(out, &querypb.Warning{Level: row[0].ToString(), Code: uint32(code), Message: row[2].Raw()})
	}
	return out
}

// numFlag is MySQL's NUM_FLAG.
const numFlag = 32768

// stripClientFlags undoes what Vitess's MySQL client adds to the column
// flags MariaDB sent: NUM_FLAG on every numeric column, as libmysqlclient
// adds it for its callers. The gate hands the flags to its own clients,
// whose libraries add it again where they do; those that read the flags
// raw (PyMySQL, mysqli) must see MariaDB's.
func stripClientFlags(fields []*vquerypb.Field) {
	for _, f := range fields {
		f.Flags &^= numFlag
	}
}

// InterruptError says why a killed statement stopped: its deadline, or its
// caller going away.
func (s *Server) InterruptError(ctx context.Context, timeout time.Duration) error {
	if ctx.Err() == context.DeadlineExceeded {
		return sqlerr.Timeout("statement exceeded its %v timeout and was killed on %s", timeout, s.where)
	}
	return sqlerr.Interrupted("statement was cancelled by the caller and killed on %s", s.where)
}

// Error keeps MariaDB's own code and SQLSTATE and says where it happened,
// unless it is a plain statement error the client caused (a duplicate key,
// a syntax error), where MariaDB's text is what users expect. A lost
// connection carries ReasonOutcomeUnknown: the statement may have run.
func (s *Server) Error(err error) error {
	se, ok := err.(*sqlerror.SQLError)
	if !ok {
		return sqlerr.Internal("%s: %v", s.where, err)
	}
	if sqlerror.IsConnErr(se) {
		return sqlerr.WithReason(sqlerr.ReasonOutcomeUnknown, sqlerr.New(se.Num, se.State, "%s: lost connection to MySQL: %s", s.where, se.Message))
	}
	return se
}

// isRowLimit recognizes the MySQL client's refusal of an over-long result;
// it has no error code of its own, only this text.
func isRowLimit(err error) bool {
	return strings.Contains(err.Error(), "Row count exceeded")
}

// IsKilled recognizes a statement MariaDB interrupted (KILL QUERY, or
// max_statement_time).
func IsKilled(err error) bool {
	se, ok := err.(*sqlerror.SQLError)
	return ok && (se.Num == sqlerror.ERQueryInterrupted || se.Num == 1969)
}

// kill stops the statement running on connection connID. It uses a
// connection of its own, since the pools may be exhausted; a user may
// always kill its own connections' statements.
func (s *Server) kill(connID int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := mysql.Connect(ctx, s.params)
	if err != nil {
		s.log.Warn("cannot connect to kill a statement", zap.Int64("connection_id", connID), zap.Error(err))
		return
	}
	defer conn.Close()
	if _, err := conn.ExecuteFetch(fmt.Sprintf("KILL QUERY %d", connID), 0, false); err != nil {
		s.log.Warn("kill query failed", zap.Int64("connection_id", connID), zap.Error(err))
	}
}
