package mysqlserver

import (
	"strconv"

	querypb "vitess.io/vitess/go/vt/proto/query"
)

// Prepared statements (the binary protocol).

// stmt is a prepared statement as the server keeps it.
type stmt struct {
	id      uint32
	params  int
	columns []*querypb.Field
	// types are the parameter types (type | flags<<8) the client sent
	// last: a client re-executing with the same types need not send them.
	types []uint16
	// longData holds COM_STMT_SEND_LONG_DATA chunks by parameter until
	// the next execute or reset; longDataBytes bounds their total.
	longData      map[int][]byte
	longDataBytes int
	longDataErr   error
	cursor        *cursor
}

// cursor holds the rows of a statement executed with a read-only cursor,
// already encoded as binary rows, for COM_STMT_FETCH.
type cursor struct {
	data []byte // row payloads, one after another
	ends []int  // where each row ends in data
	next int    // next row to send
}

func (cur *cursor) add(row []byte) {
	cur.data = append(cur.data, row...)
	cur.ends = append(cur.ends, len(cur.data))
}

// lastStatement is the statement id MariaDB clients may use for "the
// statement prepared last" (pipelined prepare and execute).
const lastStatement = 0xffffffff

func (c *Conn) statement(id uint32, command string) (*stmt, error) {
	if id == lastStatement {
		id = c.lastStmtID
	}
	st, ok := c.stmts[id]
	if !ok {
		s := strconv.FormatUint(uint64(id), 10)
		return nil, newError(erUnknownStmtHandler, "HY000", "Unknown prepared statement handler (%s) given to %s", s, command)
	}
	return st, nil
}

func (c *Conn) comStmtPrepare(payload []byte) error {
	sql := string(payload)
	c.current = sql
	c.srv.questions.Add(1)
	c.lastStmtID = 0
	id := c.nextStmtID
	c.nextStmtID++
	if c.nextStmtID == lastStatement || c.nextStmtID == 0 {
		c.nextStmtID = 1
	}
	params, columns, err := c.callPrepare(id, sql)
	if err == nil && params > 65535 {
		c.closeStatement(id)
		err = newError(erPSManyParam, "HY000", "Prepared statement contains too many placeholders")
	}
	if err != nil {
		return c.writeErr(err)
	}
	c.stmts[id] = &stmt{id: id, params: params, columns: columns}
	c.lastStmtID = id

	warnings := c.warnings()
	b := c.begin()
	b = append(b, okHeader)
	b = appendUint32(b, id)
	b = appendUint16(b, uint16(len(columns)))
	b = appendUint16(b, uint16(params))
	b = append(b, 0)
	b = appendUint16(b, warnings)
	if err := c.end(b); err != nil {
		return err
	}
	if params > 0 {
		// Parameters are described as MariaDB describes them: type NULL.
		param := &querypb.Field{Name: "?", Type: querypb.Type_NULL_TYPE, Charset: binaryCharset, Flags: flagBinary}
		for range params {
			if err := c.end(c.appendColumnDef(c.begin(), param, false)); err != nil {
				return err
			}
		}
		if err := c.writeEOFIfNeeded(); err != nil {
			return err
		}
	}
	if len(columns) > 0 {
		for _, f := range columns {
			if err := c.end(c.appendColumnDef(c.begin(), f, false)); err != nil {
				return err
			}
		}
		if err := c.writeEOFIfNeeded(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Conn) comStmtExecute(payload []byte) error {
	d := newDecoder(payload)
	id := d.uint32()
	flags := d.uint8()
	d.uint32() // iteration count, always 1
	if !d.ok {
		return c.writeErr(errMalformed("COM_STMT_EXECUTE"))
	}
	st, err := c.statement(id, "mysqld_stmt_execute")
	if err != nil {
		return c.writeErr(err)
	}
	c.srv.questions.Add(1)
	st.cursor = nil
	err = st.longDataErr
	var bindVars map[string]*querypb.BindVariable
	if err == nil {
		bindVars, err = decodeParams(d, st)
	}
	clear(st.longData)
	st.longDataBytes, st.longDataErr = 0, nil
	if err != nil {
		return c.writeErr(err)
	}
	c.current = "prepared statement " + strconv.FormatUint(uint64(st.id), 10)
	w := c.newResultWriter(true)
	if flags&cursorTypeReadOnly != 0 {
		w.cursor = &cursor{}
	}
	err = c.callExecute(st.id, bindVars)
	if w.cursor != nil && w.started && err == nil && w.err == nil {
		st.cursor = w.cursor
	}
	return w.finish(err, false)
}

func (c *Conn) callPrepare(id uint32, sql string) (params int, columns []*querypb.Field, err error) {
	ctx, done := c.commandContext()
	defer done()
	defer c.recoverHandler("ComPrepare", &err)
	return c.srv.handler.ComPrepare(ctx, c, id, sql)
}

func (c *Conn) callExecute(id uint32, bindVars map[string]*querypb.BindVariable) (err error) {
	ctx, done := c.commandContext()
	defer done()
	defer c.recoverHandler("ComStmtExecute", &err)
	return c.srv.handler.ComStmtExecute(ctx, c, id, bindVars, c.write)
}

func (c *Conn) comStmtSendLongData(payload []byte) error {
	d := newDecoder(payload)
	id := d.uint32()
	param := int(d.uint16())
	data := d.rest()
	if !d.ok {
		return nil // no response to this command, even for errors
	}
	st, err := c.statement(id, "mysqld_stmt_send_long_data")
	if err != nil || st.longDataErr != nil {
		return nil
	}
	if param >= st.params {
		st.longDataErr = newError(erWrongArguments, "HY000", "Incorrect arguments to mysqld_stmt_send_long_data")
		return nil
	}
	st.longDataBytes += len(data)
	if st.longDataBytes > c.srv.cfg.MaxPacketSize {
		st.longDataErr = errPacketTooLargeSQL()
		clear(st.longData)
		return nil
	}
	if st.longData == nil {
		st.longData = map[int][]byte{}
	}
	st.longData[param] = append(st.longData[param], data...)
	return nil
}

func (c *Conn) comStmtClose(payload []byte) {
	d := newDecoder(payload)
	id := d.uint32()
	if !d.ok {
		return
	}
	if _, ok := c.stmts[id]; ok {
		delete(c.stmts, id)
		c.closeStatement(id)
	}
}

func (c *Conn) comStmtReset(payload []byte) error {
	d := newDecoder(payload)
	id := d.uint32()
	if !d.ok {
		return c.writeErr(errMalformed("COM_STMT_RESET"))
	}
	st, err := c.statement(id, "mysqld_stmt_reset")
	if err != nil {
		return c.writeErr(err)
	}
	clear(st.longData)
	st.longDataBytes, st.longDataErr, st.cursor = 0, nil, nil
	return c.writeOK(okHeader, 0, 0, 0, "")
}

// comStmtFetch sends up to n rows of the statement's cursor, then an EOF
// whose status says the cursor is still open (CURSOR_EXISTS) or the rows
// ran out (LAST_ROW_SENT, and the cursor is closed), as MariaDB does.
func (c *Conn) comStmtFetch(payload []byte) error {
	d := newDecoder(payload)
	id := d.uint32()
	n := int(d.uint32())
	if !d.ok {
		return c.writeErr(errMalformed("COM_STMT_FETCH"))
	}
	st, err := c.statement(id, "mysqld_stmt_fetch")
	if err != nil {
		return c.writeErr(err)
	}
	cur := st.cursor
	if cur == nil {
		return c.writeErr(newError(erStmtHasNoOpenCursor, "HY000", "The statement (%d) has no open cursor", st.id))
	}
	for ; n > 0 && cur.next < len(cur.ends); n-- {
		start := 0
		if cur.next > 0 {
			start = cur.ends[cur.next-1]
		}
		if err := c.writePacket(cur.data[start:cur.ends[cur.next]]); err != nil {
			return err
		}
		cur.next++
	}
	// Like MariaDB, the end is reported (and the cursor closed) by the
	// fetch that asked for more rows than were left.
	status := StatusCursorExists
	if n > 0 {
		status = StatusLastRowSent
		st.cursor = nil
	}
	return c.writeEndOfRows(status)
}

// closeStatements forgets every prepared statement, telling the handler.
func (c *Conn) closeStatements() {
	for id := range c.stmts {
		delete(c.stmts, id)
		c.closeStatement(id)
	}
	c.lastStmtID = 0
}

func (c *Conn) closeStatement(id uint32) {
	defer c.recoverHandler("ComStmtClose", nil)
	c.srv.handler.ComStmtClose(c, id)
}
