// Package sqlerr builds the errors clients see. Every error that reaches a
// client is a *sqlerror.SQLError (Vitess's MySQL error type, which the MySQL
// listener writes as an error packet): a MySQL error code, an SQLSTATE and
// a message that says what went wrong and where.
//
// Between tablet and gate an error may also carry a Reason (ReasonError):
// what the gate must do about it (forget a transaction, retry once the
// writes moved). Code and message are the client's; the gate acts on the
// reason alone, never on the text.
package sqlerr

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"

	"github.com/shardgate/shardgate/proto/querypb"
)

// Error is the client-facing error type.
type Error = sqlerror.SQLError

// MariaDB's ER_STATEMENT_TIMEOUT, which vitess does not name.
const erStatementTimeout = sqlerror.ErrorCode(1969)

// MySQL error codes of XA and transactions that vitess does not name, and
// their SQLSTATEs.
const (
	// ERXAERNota is XAER_NOTA, "Unknown XID" (XAE04).
	ERXAERNota = sqlerror.ErrorCode(1397)
	// ERXAERRmfail is XAER_RMFAIL, a command not allowed in the branch's
	// state (XAE07).
	ERXAERRmfail = sqlerror.ErrorCode(1399)
	// ERXARBRollback is XA_RBROLLBACK, "Transaction branch was rolled
	// back" (XA100).
	ERXARBRollback = sqlerror.ErrorCode(1402)
	// ERCantChangeTxCharacteristics refuses changing how transactions
	// behave while one is open (25001).
	ERCantChangeTxCharacteristics = sqlerror.ErrorCode(1568)

	SSXAERNota                    = "XAE04"
	SSXAERRmfail                  = "XAE07"
	SSXARBRollback                = "XA100"
	SSCantChangeTxCharacteristics = "25001"
)

// RolledBack is XA_RBROLLBACK (1402, XA100): the transaction could not
// commit and was rolled back everywhere.
func RolledBack(format string, args ...any) *Error {
	return sqlerror.NewSQLErrorf(ERXARBRollback, SSXARBRollback, format, args...)
}

// New returns an error with an explicit code and SQLSTATE.
func New(code sqlerror.ErrorCode, state, format string, args ...any) *Error {
	return sqlerror.NewSQLErrorf(code, state, format, args...)
}

// Unsupported is MySQL's ER_NOT_SUPPORTED_YET (1235, 42000), naming the
// construct Shardgate refuses rather than answering wrongly.
func Unsupported(format string, args ...any) *Error {
	return sqlerror.NewSQLError(sqlerror.ERNotSupportedYet, sqlerror.SSClientError,
		"Shardgate does not support "+fmt.Sprintf(format, args...))
}

// Internal is ER_UNKNOWN_ERROR (1105, HY000) for failures that are not the
// statement's fault: a shard unreachable, a topology problem.
func Internal(format string, args ...any) *Error {
	return sqlerror.NewSQLErrorf(sqlerror.ERUnknownError, sqlerror.SSUnknownSQLState, format, args...)
}

// Timeout is MariaDB's ER_STATEMENT_TIMEOUT (1969, 70100).
func Timeout(format string, args ...any) *Error {
	return sqlerror.NewSQLErrorf(erStatementTimeout, sqlerror.SSQueryInterrupted, format, args...)
}

// Interrupted is ER_QUERY_INTERRUPTED (1317, 70100).
func Interrupted(format string, args ...any) *Error {
	return sqlerror.NewSQLErrorf(sqlerror.ERQueryInterrupted, sqlerror.SSQueryInterrupted, format, args...)
}

// From returns err as a client-facing error: a *sqlerror.SQLError anywhere
// in its chain is kept (with the wrapping context prepended to its
// message), context errors become interrupts, anything else is 1105.
func From(err error) *Error {
	if err == nil {
		return nil
	}
	var se *sqlerror.SQLError
	if errors.As(err, &se) {
		if outer := err.Error(); se != error(err) && outer != se.Error() {
			// Keep the context the wrappers added, with the inner error's
			// text but not its "(errno N) (sqlstate S)" decoration.
			msg := strings.Replace(outer, se.Error(), se.Message, 1)
			return &Error{Num: se.Num, State: se.State, Message: msg}
		}
		return se
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return Timeout("%v", err)
	case errors.Is(err, context.Canceled):
		return Interrupted("%v", err)
	}
	return Internal("%v", err)
}

// ErOptionPreventsStatement is ER_OPTION_PREVENTS_STATEMENT (1290), which
// MySQL answers to a write on a read-only server.
const ErOptionPreventsStatement = sqlerror.ErrorCode(1290)

// Reason says what an error means to a caller that must act on it; it
// crosses the wire between tablet and gate beside the MySQL code, SQLSTATE
// and message (querypb.MySQLError), which stay what the client sees.
type Reason = querypb.ErrorReason

// The reasons a tablet gives (see query.proto for what each asks of the
// caller).
const (
	ReasonTransactionEnded       = querypb.ErrorReason_TRANSACTION_ENDED
	ReasonTransactionNotFound    = querypb.ErrorReason_TRANSACTION_NOT_FOUND
	ReasonReservedConnectionGone = querypb.ErrorReason_RESERVED_CONNECTION_GONE
	ReasonWritesSwitching        = querypb.ErrorReason_WRITES_SWITCHING
	ReasonNotPrimary             = querypb.ErrorReason_NOT_PRIMARY
	ReasonMySQLUnreachable       = querypb.ErrorReason_MYSQL_UNREACHABLE
	ReasonReplicaBehind          = querypb.ErrorReason_REPLICA_BEHIND
	ReasonOutcomeUnknown         = querypb.ErrorReason_OUTCOME_UNKNOWN
)

// ReasonError is an error with a Reason. Its text is the wrapped error's,
// and errors.As finds the MySQL error inside it, so code, SQLSTATE and
// message reach the client unchanged; the reason survives any wrapping
// that keeps the chain (fmt.Errorf with %w).
type ReasonError struct {
	Reason Reason
	Err    error
}

func (e *ReasonError) Error() string { return e.Err.Error() }
func (e *ReasonError) Unwrap() error { return e.Err }

// WithReason gives err a reason. A nil err, or REASON_UNSPECIFIED, leaves
// err as it is.
func WithReason(reason Reason, err error) error {
	if err == nil || reason == querypb.ErrorReason_REASON_UNSPECIFIED {
		return err
	}
	return &ReasonError{Reason: reason, Err: err}
}

// ReasonOf returns the reason of the outermost ReasonError in err's chain,
// or REASON_UNSPECIFIED.
func ReasonOf(err error) Reason {
	var re *ReasonError
	if errors.As(err, &re) {
		return re.Reason
	}
	return querypb.ErrorReason_REASON_UNSPECIFIED
}

// HasReason reports whether err's chain carries reason.
func HasReason(err error, reason Reason) bool {
	return reason != querypb.ErrorReason_REASON_UNSPECIFIED && ReasonOf(err) == reason
}

// WritesSwitching is the error of a shard that refuses a write (or a new
// transaction) because a resharding is moving its writes elsewhere.
func WritesSwitching(keyspace, shard string) error {
	return WithReason(ReasonWritesSwitching, New(ErOptionPreventsStatement, "HY000",
		"shard %s/%s is switching its writes to other shards (resharding): retry on the shards now serving", keyspace, shard))
}

// IsWritesSwitching recognizes the error of WritesSwitching, however
// wrapped, including after it crossed from tablet to gate.
func IsWritesSwitching(err error) bool {
	return HasReason(err, ReasonWritesSwitching)
}

// ToProto is err as it crosses the wire between tablet and gate: the
// client error of From, and err's reason.
func ToProto(err error) *querypb.MySQLError {
	se := From(err)
	return &querypb.MySQLError{Code: uint32(se.Num), SqlState: se.State, Message: []byte(se.Message), Reason: ReasonOf(err)}
}

// FromProto is the inverse of ToProto: a *ReasonError around the MySQL
// error when the message has a reason, the MySQL error alone otherwise.
func FromProto(me *querypb.MySQLError) error {
	se := sqlerror.NewSQLError(sqlerror.ErrorCode(me.Code), me.SqlState, string(me.Message))
	return WithReason(me.Reason, se)
}
