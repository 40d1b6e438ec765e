package mysqlserver

import (
	"errors"
	"fmt"

	"vitess.io/vitess/go/mysql/sqlerror"
)

// Errors the server itself sends, with MariaDB's codes, SQLSTATEs and
// wording.
const (
	erConCount              = 1040 // 08004
	erHandshake             = 1043 // 08S01
	erAccessDenied          = 1045 // 28000
	erUnknownCom            = 1047 // 08S01
	erNoSuchThread          = 1094 // HY000
	erUnknown               = 1105 // HY000
	erNetPacketTooLarge     = 1153 // 08S01
	erNetPacketsOutOfOrder  = 1156 // 08S01
	erWrongArguments        = 1210 // HY000
	erKillDenied            = 1095 // HY000
	erNotSupportedYet       = 1235 // 42000
	erUnknownStmtHandler    = 1243 // HY000
	erPSManyParam           = 1390 // HY000
	erStmtHasNoOpenCursor   = 1421 // HY000
	erSecureTransport       = 3159 // HY000 (MySQL's ER_SECURE_TRANSPORT_REQUIRED)
	erLoadInfileCapDisabled = 4166 // HY000
)

func newError(code int, state, format string, args ...any) *sqlerror.SQLError {
	return sqlerror.NewSQLError(sqlerror.ErrorCode(code), state, fmt.Sprintf(format, args...))
}

// sqlError is err as the client sees it: a *sqlerror.SQLError anywhere in
// its chain is kept, anything else is 1105 with the error's text.
func sqlError(err error) *sqlerror.SQLError {
	var se *sqlerror.SQLError
	if errors.As(err, &se) {
		return se
	}
	return newError(erUnknown, "HY000", "%v", err)
}

// errLocalFilesDisabled is MariaDB 10.11's answer to LOAD DATA LOCAL when
// the client did not allow it (CLIENT_LOCAL_FILES not set).
func errLocalFilesDisabled() error {
	return newError(erLoadInfileCapDisabled, "HY000", "The used command is not allowed because the MariaDB server or client has disabled the local infile capability")
}

func errPacketTooLargeSQL() *sqlerror.SQLError {
	return newError(erNetPacketTooLarge, "08S01", "Got a packet bigger than 'max_allowed_packet' bytes")
}

func errUnknownCommand() *sqlerror.SQLError {
	return newError(erUnknownCom, "08S01", "Unknown command")
}

func errMalformed(what string) *sqlerror.SQLError {
	return newError(erUnknownCom, "08S01", "Malformed %s packet", what)
}

// writeErr sends err as an ERR packet.
func (c *Conn) writeErr(err error) error {
	se := sqlError(err)
	b := c.begin()
	b = append(b, errHeader)
	b = appendUint16(b, uint16(se.Num))
	state := se.State
	if len(state) != 5 {
		state = "HY000"
	}
	b = append(b, '#')
	b = append(b, state...)
	b = append(b, se.Message...)
	return c.end(b)
}
