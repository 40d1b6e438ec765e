package mysqlserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

// readBufferSize is each connection's read buffer: small commands arrive
// in one read; larger payloads are read past it, straight into the
// payload buffer.
const readBufferSize = 4 << 10

// Conn is one client connection. Its methods may be called from the
// handler during a command; ID, User, RemoteAddr, CancelStatement, Close
// and SetIdleTimeout may also be called from other goroutines.
type Conn struct {
	srv  *Server
	id   uint32
	raw  net.Conn      // as accepted; closing it ends everything
	conn net.Conn      // raw, or TLS over it
	r    *bufio.Reader // nil while idle (see releaseWhenIdle)
	idle *idleWaiter   // nil when the connection cannot idle without r
	seq  uint8

	rbuf     []byte
	wbuf     []byte
	wpool    *[]byte
	pktStart int   // offset in wbuf of the packet being built, -1 when none
	ioErr    error // the connection failed: it will close

	caps     uint32 // capabilities both sides have
	extCaps  uint32 // MariaDB's extended capabilities both sides have
	charset  uint8
	scramble [20]byte
	tlsState *tls.ConnectionState
	secure   bool
	attrs    map[string]string

	ctx  context.Context // ends when the connection closes
	stop context.CancelFunc

	mu       sync.Mutex
	user     string
	cancel   context.CancelFunc // the running command's
	closed   bool
	loggedIn bool // NewConnection accepted it

	idleTimeout atomic.Int64

	session    any
	stmts      map[uint32]*stmt
	nextStmtID uint32
	lastStmtID uint32

	rw        resultWriter
	write     func(*sqltypes.Result) error
	inQuery   bool
	quit      bool // the client sent COM_QUIT
	localFile *localFileReader
	current   string // the statement running, for logs
}

func newConn(s *Server, nc net.Conn) *Conn {
	c := &Conn{
		srv: s, raw: nc, conn: nc, r: newReader(nc), idle: newIdleWaiter(nc), pktStart: -1,
		stmts: map[uint32]*stmt{}, nextStmtID: 1,
	}
	c.ctx, c.stop = context.WithCancel(context.Background())
	c.idleTimeout.Store(int64(s.cfg.IdleTimeout))
	c.write = c.rw.write
	if _, unix := nc.(*net.UnixConn); unix {
		c.secure = true
	}
	return c
}

// ID is the connection id the server assigned (sent in the handshake,
// CONNECTION_ID()).
func (c *Conn) ID() uint32 { return c.id }

// User is the logged-in user.
func (c *Conn) User() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.user
}

func (c *Conn) setUser(u string) {
	c.mu.Lock()
	c.user = u
	c.mu.Unlock()
}

// RemoteAddr is the client's address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// Capabilities are the CLIENT_* flags both the client and the server set
// (CapMultiStatements follows COM_SET_OPTION).
func (c *Conn) Capabilities() uint32 { return c.caps }

// ExtendedCapabilities are MariaDB's extended capabilities (ExtCap*) both
// the client and the server set.
func (c *Conn) ExtendedCapabilities() uint32 { return c.extCaps }

// Charset is the collation id the client asked for at login.
func (c *Conn) Charset() uint8 { return c.charset }

// TLS is the connection's TLS state, nil without TLS.
func (c *Conn) TLS() *tls.ConnectionState { return c.tlsState }

// ConnectAttrs are the connection attributes the client sent (nil if
// none).
func (c *Conn) ConnectAttrs() map[string]string { return c.attrs }

// Session is what the handler stored with SetSession.
func (c *Conn) Session() any { return c.session }

// SetSession stores the handler's session. When it implements
// SessionState (and SessionTracker), the server asks it for status flags
// and warnings (and tracked changes) after every command.
func (c *Conn) SetSession(s any) { c.session = s }

// Server is the server the connection belongs to.
func (c *Conn) Server() *Server { return c.srv }

// SetIdleTimeout sets how long the connection may wait for its next
// command before it is closed (MariaDB's wait_timeout).
func (c *Conn) SetIdleTimeout(d time.Duration) {
	if d > 0 {
		c.idleTimeout.Store(int64(d))
	}
}

// CancelStatement cancels the context of the command running, if any
// (KILL QUERY).
func (c *Conn) CancelStatement() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		c.cancel()
	}
}

// Close closes the connection (KILL CONNECTION): the running command's
// context is cancelled and the socket closed; the connection's goroutine
// then calls the handler's ConnectionClosed.
func (c *Conn) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	c.stop()
	_ = c.raw.Close()
}

// Lingering: how long, and for how many bytes, a connection the server
// ends keeps reading what the client still sends.
const (
	lingerTime  = time.Second
	lingerBytes = 256 << 10
)

// lingerClose ends a connection the server gives up on (an error, a
// refused login, a timeout) while the client may still be sending: it
// sends FIN after what was written, then reads and drops what the client
// still sends, bounded, before closing. Closing a socket with unread bytes
// makes the kernel answer with RST, and a client then reads "connection
// reset" instead of the error packet it was sent (the wire fuzzer found
// it with a 4 KiB handshake the gate refused). A client that quit, went
// away, or a connection already closed (KILL, shutdown) costs nothing.
func (c *Conn) lingerClose() {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	cw, ok := c.raw.(interface{ CloseWrite() error })
	if closed || c.quit || !ok || cw.CloseWrite() != nil {
		return
	}
	_ = c.raw.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, c.raw, lingerBytes)
}

// commandContext returns the context of a command (or of one statement
// of a multi-statement query) and the function ending it.
func (c *Conn) commandContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(c.ctx)
	c.mu.Lock()
	c.cancel = cancel
	c.mu.Unlock()
	return ctx, c.endCommand
}

func (c *Conn) endCommand() {
	c.mu.Lock()
	cancel := c.cancel
	c.cancel = nil
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// serveConn runs one connection from accept to close.
func (s *Server) serveConn(nc net.Conn) {
	defer s.wg.Done()
	c := newConn(s, nc)
	if !s.register(c) {
		if !s.closing.Load() {
			_ = nc.SetDeadline(time.Now().Add(time.Second))
			_ = c.writeErr(newError(erConCount, "08004", "Too many connections"))
			_ = c.flush()
		}
		c.releaseBuffers()
		_ = nc.Close()
		return
	}
	// In reverse: the connection leaves the server's count before it
	// lingers (see lingerClose), then closes.
	defer c.Close()
	defer c.lingerClose()
	defer s.unregister(c)
	defer func() {
		// Our own bugs: nothing a client sends may take the server down.
		if r := recover(); r != nil {
			s.log.Error("panic in the MySQL server; connection closed", zap.Uint32("connection_id", c.id),
				zap.String("statement", truncate(c.current, 1000)), zap.Any("panic", r), zap.Stack("stack"))
		}
	}()
	defer c.releaseBuffers()
	_ = nc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	if !c.handshake() {
		return
	}
	defer c.connectionClosed()
	_ = nc.SetDeadline(time.Time{})
	for c.serveCommand() {
	}
}

// connectionClosed tells the handler, once, after dropping the
// connection's prepared statements.
func (c *Conn) connectionClosed() {
	c.mu.Lock()
	loggedIn := c.loggedIn
	c.loggedIn = false
	c.mu.Unlock()
	if !loggedIn {
		return
	}
	defer c.recoverHandler("ConnectionClosed", nil)
	c.closeStatements()
	c.srv.handler.ConnectionClosed(c)
}

// recoverHandler turns a panic in a handler call into err (1105) after
// logging it with its stack; it must be deferred directly.
func (c *Conn) recoverHandler(call string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	c.srv.log.Error("panic in the MySQL handler", zap.String("call", call), zap.Uint32("connection_id", c.id),
		zap.String("statement", truncate(c.current, 1000)), zap.Any("panic", r), zap.Stack("stack"))
	c.discardPartialPacket()
	if err != nil {
		*err = newError(erUnknown, "HY000", "internal error while handling this statement (logged on the server): %v", r)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// errQuit ends the connection without an answer.
var errQuit = errors.New("client quit")

// serveCommand reads and runs one command; false ends the connection.
func (c *Conn) serveCommand() bool {
	c.seq = 0
	idleDeadline := time.Now().Add(time.Duration(c.idleTimeout.Load()))
	c.releaseWhenIdle(idleDeadline)
	_ = c.conn.SetReadDeadline(idleDeadline)
	payload, err := c.readPacket(c.srv.cfg.MaxPacketSize)
	if err != nil {
		switch {
		case errors.Is(err, errPacketTooLarge):
			_ = c.writeErr(errPacketTooLargeSQL())
			_ = c.flush()
		case errors.Is(err, errOutOfOrder):
			_ = c.writeErr(newError(erNetPacketsOutOfOrder, "08S01", "Got packets out of order"))
			_ = c.flush()
		}
		c.srv.log.Debug("connection ends", zap.Uint32("connection_id", c.id), zap.Error(err))
		return false
	}
	if len(payload) == 0 {
		_ = c.writeErr(errMalformed("command"))
		_ = c.flush()
		return false
	}
	err = c.dispatch(payload[0], payload[1:])
	if err == nil {
		err = c.flush()
	}
	c.current = ""
	c.releaseBuffers()
	if err != nil {
		if err == errQuit {
			c.quit = true
		} else {
			c.srv.log.Debug("connection ends", zap.Uint32("connection_id", c.id), zap.Error(err))
		}
		return false
	}
	return true
}

// dispatch runs one command. Errors for the client are written as ERR
// packets; the error returned means the connection must close.
func (c *Conn) dispatch(cmd byte, data []byte) error {
	switch cmd {
	case comQuit:
		return errQuit
	case comQuery:
		return c.comQuery(data)
	case comPing:
		return c.writeOK(okHeader, 0, 0, 0, "")
	case comDebug:
		// MariaDB answers COM_DEBUG (and COM_SET_OPTION) as it ends rows.
		return c.writeEndOfRows(0)
	case comInitDB:
		return c.comInitDB(string(data))
	case comFieldList:
		return c.comFieldList(data)
	case comStatistics:
		return c.comStatistics()
	case comProcessKill:
		d := newDecoder(data)
		id := d.uint32()
		if !d.ok {
			return c.writeErr(errMalformed("COM_PROCESS_KILL"))
		}
		if err := c.processKill(id); err != nil {
			return c.writeErr(err)
		}
		return c.writeOK(okHeader, 0, 0, 0, "")
	case comChangeUser:
		return c.comChangeUser(data)
	case comResetConnection:
		return c.comResetConnection()
	case comSetOption:
		d := newDecoder(data)
		switch d.uint16() {
		case optionMultiStatementsOn:
			c.caps |= CapMultiStatements
		case optionMultiStatementsOff:
			c.caps &^= CapMultiStatements
		default:
			return c.writeErr(errUnknownCommand())
		}
		if !d.ok {
			return c.writeErr(errMalformed("COM_SET_OPTION"))
		}
		return c.writeEndOfRows(0)
	case comStmtPrepare:
		return c.comStmtPrepare(data)
	case comStmtExecute:
		return c.comStmtExecute(data)
	case comStmtSendLongData:
		return c.comStmtSendLongData(data)
	case comStmtClose:
		c.comStmtClose(data)
		return nil
	case comStmtReset:
		return c.comStmtReset(data)
	case comStmtFetch:
		return c.comStmtFetch(data)
	case comBinlogDump, comBinlogDumpGTID, comRegisterSlave, comTableDump:
		return c.writeErr(newError(erNotSupportedYet, "42000", "This server does not support replicating from it (binlog commands)"))
	}
	return c.writeErr(errUnknownCommand())
}

// splitQuery splits multi-statement text when the client enabled
// multi-statements and the text may hold several.
func (c *Conn) splitQuery(sql string, one *[1]string) []string {
	one[0] = sql
	if c.caps&CapMultiStatements == 0 || c.srv.cfg.SplitStatements == nil || !strings.Contains(sql, ";") {
		return one[:]
	}
	pieces, err := c.srv.cfg.SplitStatements(sql)
	if err != nil || len(pieces) == 0 {
		return one[:]
	}
	return pieces
}

// comQuery runs COM_QUERY: each statement of a multi-statement text in
// turn, all but the last answered with MORE_RESULTS_EXISTS; the first
// error ends the text, as in MariaDB.
func (c *Conn) comQuery(data []byte) error {
	var one [1]string
	pieces := c.splitQuery(string(data), &one)
	for i, sql := range pieces {
		c.srv.questions.Add(1)
		c.current = sql
		w := c.newResultWriter(false)
		err := c.runQuery(sql)
		failed := err != nil || w.err != nil
		if ferr := w.finish(err, i < len(pieces)-1 && !failed); ferr != nil {
			return ferr
		}
		if failed {
			return nil
		}
	}
	return nil
}

func (c *Conn) runQuery(sql string) (err error) {
	ctx, done := c.commandContext()
	defer done()
	c.inQuery = true
	defer func() { c.inQuery = false }()
	defer c.recoverHandler("ComQuery", &err)
	return c.srv.handler.ComQuery(ctx, c, sql, c.write)
}

func (c *Conn) comInitDB(db string) (err error) {
	c.current = "USE " + db
	ctx, done := c.commandContext()
	err = c.callInitDB(ctx, db)
	done()
	if err != nil {
		return c.writeErr(err)
	}
	return c.writeOK(okHeader, 0, 0, 0, "")
}

func (c *Conn) callInitDB(ctx context.Context, db string) (err error) {
	defer c.recoverHandler("ComInitDB", &err)
	return c.srv.handler.ComInitDB(ctx, c, db)
}

func (c *Conn) comFieldList(data []byte) (err error) {
	d := newDecoder(data)
	table := d.nulString()
	wildcard := string(d.rest())
	fl, ok := c.srv.handler.(FieldLister)
	var fields []*querypb.Field
	if ok {
		ctx, done := c.commandContext()
		fields, err = func() (f []*querypb.Field, err error) {
			defer c.recoverHandler("ComFieldList", &err)
			return fl.ComFieldList(ctx, c, table, wildcard)
		}()
		done()
		if err != nil {
			return c.writeErr(err)
		}
	}
	for _, f := range fields {
		if err := c.end(c.appendColumnDef(c.begin(), f, true)); err != nil {
			return err
		}
	}
	return c.writeEndOfRows(0)
}

func (c *Conn) comStatistics() (err error) {
	var line string
	if sr, ok := c.srv.handler.(StatisticsReporter); ok {
		line = func() (line string) {
			defer c.recoverHandler("ComStatistics", &err)
			return sr.ComStatistics(c)
		}()
		if err != nil {
			return c.writeErr(err)
		}
	} else {
		line = c.srv.Stats().String()
	}
	return c.writePacket([]byte(line))
}

func (c *Conn) processKill(id uint32) (err error) {
	pk, ok := c.srv.handler.(ProcessKiller)
	if !ok {
		return c.srv.Kill(c, id, false)
	}
	ctx, done := c.commandContext()
	defer done()
	defer c.recoverHandler("ComProcessKill", &err)
	return pk.ComProcessKill(ctx, c, id)
}

func (c *Conn) comResetConnection() (err error) {
	c.closeStatements()
	ctx, done := c.commandContext()
	err = func() (err error) {
		defer c.recoverHandler("ComResetConnection", &err)
		return c.srv.handler.ComResetConnection(ctx, c)
	}()
	done()
	if err != nil {
		return c.writeErr(err)
	}
	return c.writeOK(okHeader, 0, 0, 0, "")
}
