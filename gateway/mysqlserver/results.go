package mysqlserver

import (
	"errors"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

// Responses: OK, EOF, result sets.

// status is what OK and EOF packets report: the session's flags plus
// extra, the flags the server owns.
func (c *Conn) status(extra uint16) (status uint16) {
	status = StatusAutocommit | extra
	if s, ok := c.session.(SessionState); ok {
		defer c.recoverHandler("StatusFlags", nil)
		status = s.StatusFlags()&^serverOwnedStatus | extra
	}
	return status
}

func (c *Conn) warnings() (n uint16) {
	if s, ok := c.session.(SessionState); ok {
		defer c.recoverHandler("WarningCount", nil)
		n = s.WarningCount()
	}
	return n
}

// takeChanges returns the session's tracked changes, to be sent when the
// client tracks them.
func (c *Conn) takeChanges() []SessionChange {
	t, ok := c.session.(SessionTracker)
	if !ok {
		return nil
	}
	var changes []SessionChange
	func() {
		defer c.recoverHandler("TakeSessionChanges", nil)
		changes = t.TakeSessionChanges()
	}()
	if c.caps&CapSessionTrack == 0 {
		return nil
	}
	return changes
}

// writeOK writes an OK packet (header 0x00, or 0xfe when it stands for an
// EOF under CLIENT_DEPRECATE_EOF) with the session's status, warnings and
// tracked changes.
func (c *Conn) writeOK(header byte, affected, insertID uint64, extra uint16, info string) error {
	changes := c.takeChanges()
	status, warnings := c.status(extra), c.warnings()
	if len(changes) > 0 {
		status |= StatusSessionStateChange
	}
	b := c.begin()
	b = append(b, header)
	b = appendLenEncInt(b, affected)
	b = appendLenEncInt(b, insertID)
	b = appendUint16(b, status)
	b = appendUint16(b, warnings)
	switch {
	case len(changes) > 0:
		b = appendLenEncString(b, info)
		b = appendSessionState(b, changes)
	case info != "":
		// MySQL and MariaDB send the info length-encoded, with or without
		// CLIENT_SESSION_TRACK, and clients read it so.
		b = appendLenEncString(b, info)
	}
	return c.end(b)
}

// writeEOF writes an EOF packet (before CLIENT_DEPRECATE_EOF).
func (c *Conn) writeEOF(extra uint16) error {
	status, warnings := c.status(extra), c.warnings()
	b := c.begin()
	b = append(b, eofHeader)
	b = appendUint16(b, warnings)
	b = appendUint16(b, status)
	return c.end(b)
}

// writeEndOfRows ends rows (a result set, a fetch, a field list): an EOF,
// or an OK with header 0xfe for clients that set CLIENT_DEPRECATE_EOF.
func (c *Conn) writeEndOfRows(extra uint16) error {
	if c.caps&CapDeprecateEOF != 0 {
		return c.writeOK(eofHeader, 0, 0, extra, "")
	}
	return c.writeEOF(extra)
}

// writeEOFIfNeeded ends column definitions: an EOF, unless the client set
// CLIENT_DEPRECATE_EOF.
func (c *Conn) writeEOFIfNeeded() error {
	if c.caps&CapDeprecateEOF != 0 {
		return nil
	}
	return c.writeEOF(0)
}

// appendSessionState appends the session state information of an OK
// packet: its total length, then per change a type byte and the change's
// data, length-encoded (a variable: name and value; a schema: its name; a
// state change: "1").
func appendSessionState(b []byte, changes []SessionChange) []byte {
	total := 0
	for _, ch := range changes {
		n := changeDataLen(ch)
		total += 1 + lenEncIntSize(uint64(n)) + n
	}
	b = appendLenEncInt(b, uint64(total))
	for _, ch := range changes {
		b = append(b, byte(ch.Kind))
		b = appendLenEncInt(b, uint64(changeDataLen(ch)))
		switch ch.Kind {
		case SystemVariableChange:
			b = appendLenEncString(b, ch.Name)
			b = appendLenEncString(b, ch.Value)
		case SchemaChange:
			b = appendLenEncString(b, ch.Name)
		default:
			b = appendLenEncString(b, "1")
		}
	}
	return b
}

func changeDataLen(ch SessionChange) int {
	switch ch.Kind {
	case SystemVariableChange:
		return lenEncIntSize(uint64(len(ch.Name))) + len(ch.Name) + lenEncIntSize(uint64(len(ch.Value))) + len(ch.Value)
	case SchemaChange:
		return lenEncIntSize(uint64(len(ch.Name))) + len(ch.Name)
	default:
		return 2
	}
}

func lenEncIntSize(v uint64) int {
	switch {
	case v < 251:
		return 1
	case v < 1<<16:
		return 3
	case v < 1<<24:
		return 4
	}
	return 9
}

// resultWriter turns a handler's Results into one statement's response,
// text or binary, and, with a cursor, keeps binary rows for
// COM_STMT_FETCH instead of sending them.
type resultWriter struct {
	c       *Conn
	binary  bool
	cursor  *cursor
	fields  []*querypb.Field
	started bool // the column definitions were sent

	affected, insertID uint64
	info               string

	err error // the first failure: later calls fail with it
}

func (c *Conn) newResultWriter(binary bool) *resultWriter {
	w := &c.rw
	*w = resultWriter{c: c, binary: binary}
	return w
}

var errRowsWithoutFields = errors.New("the handler sent rows before the fields of their result set")

// write is the callback the handler gets.
func (w *resultWriter) write(r *sqltypes.Result) error {
	if w.err != nil {
		return w.err
	}
	if r == nil {
		return nil
	}
	c := w.c
	if !w.started {
		if len(r.Fields) == 0 {
			if len(r.Rows) > 0 {
				w.err = errRowsWithoutFields
				return w.err
			}
			w.affected += r.RowsAffected
			if r.InsertID != 0 || r.InsertIDChanged {
				w.insertID = r.InsertID
			}
			w.info = r.Info
			return nil
		}
		w.fields = r.Fields
		w.started = true
		if w.err = c.writeColumns(r.Fields); w.err != nil {
			return w.err
		}
	}
	for _, row := range r.Rows {
		if w.err = w.writeRow(row); w.err != nil {
			return w.err
		}
	}
	return nil
}

func (w *resultWriter) writeRow(row []sqltypes.Value) error {
	c := w.c
	if !w.binary {
		if len(row) != len(w.fields) {
			return newError(erUnknown, "HY000", "internal error: a row has %d values for %d columns", len(row), len(w.fields))
		}
		return c.end(appendTextRow(c.begin(), row))
	}
	b := c.begin()
	b, err := appendBinaryRow(b, w.fields, row)
	if err != nil {
		c.discardPartialPacket()
		return newError(erUnknown, "HY000", "internal error encoding a row: %v", err)
	}
	if w.cursor != nil {
		w.cursor.add(b[c.pktStart+4:])
		c.wbuf = b[:c.pktStart]
		c.pktStart = -1
		return nil
	}
	return c.end(b)
}

// writeColumns writes a result set's header: the column count, the
// definitions and, before CLIENT_DEPRECATE_EOF, an EOF. For a cursor the
// EOF waits for finish, which adds CURSOR_EXISTS.
func (c *Conn) writeColumns(fields []*querypb.Field) error {
	if err := c.end(appendLenEncInt(c.begin(), uint64(len(fields)))); err != nil {
		return err
	}
	for _, f := range fields {
		if err := c.end(c.appendColumnDef(c.begin(), f, false)); err != nil {
			return err
		}
	}
	if c.rw.cursor != nil {
		return nil
	}
	return c.writeEOFIfNeeded()
}

// finish ends the statement's response after the handler returned err:
// an ERR (also after rows: clients take one in place of a row), the end
// of the result set, or the OK. more sets MORE_RESULTS_EXISTS. The error
// returned is the connection's (it must close).
func (w *resultWriter) finish(err error, more bool) error {
	c := w.c
	if ferr := c.finishLocalFile(); ferr != nil {
		return ferr
	}
	if c.ioErr != nil {
		return c.ioErr
	}
	if err == nil {
		err = w.err
	}
	if err != nil {
		return c.writeErr(err)
	}
	var extra uint16
	if more {
		extra = StatusMoreResultsExist
	}
	switch {
	case w.cursor != nil && w.started:
		// The cursor is open: the column definitions end with an EOF
		// saying so, and rows come with COM_STMT_FETCH.
		return c.writeEndOfRows(extra | StatusCursorExists)
	case w.started:
		return c.writeEndOfRows(extra)
	}
	return c.writeOK(okHeader, w.affected, w.insertID, extra, w.info)
}
