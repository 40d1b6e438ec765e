package mysqlserver

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

// Protocol details drivers do not show, checked packet by packet. Where
// MariaDB's own bytes are quoted, they were captured from MariaDB 10.11.

func TestCursorFetch(t *testing.T) {
	for _, extra := range []uint32{0, CapDeprecateEOF} {
		ts := startServer(t, nil)
		rc := dialRaw(t, ts.addr)
		rc.mustLogin("root", "", "", extra)
		rc.command(comStmtPrepare, []byte("select rows 5"))
		prep := rc.read()
		id := binary.LittleEndian.Uint32(prep[1:])
		cols := int(binary.LittleEndian.Uint16(prep[5:]))
		for range cols {
			rc.read()
		}
		if extra == 0 {
			rc.read()
		}
		exec := append(appendUint32(nil, id), cursorTypeReadOnly, 1, 0, 0, 0)
		rc.command(comStmtExecute, exec)
		if p := rc.read(); p[0] != byte(cols) {
			t.Fatalf("column count %q", p)
		}
		for range cols {
			rc.read()
		}
		if st := rc.eofStatus(rc.read()); st != StatusAutocommit|StatusCursorExists {
			t.Fatalf("after the columns: status %#x, want CURSOR_EXISTS", st)
		}
		fetch := func(n uint32) (rows [][]byte, status uint16) {
			rc.command(comStmtFetch, append(appendUint32(nil, id), appendUint32(nil, n)...))
			for {
				p := rc.read()
				if p[0] != 0 {
					return rows, rc.eofStatus(p)
				}
				rows = append(rows, p)
			}
		}
		rows, st := fetch(2)
		if len(rows) != 2 || st != StatusAutocommit|StatusCursorExists {
			t.Fatalf("fetch 1: %d rows, status %#x", len(rows), st)
		}
		// Binary row of (0..4, "name-i", ...): header, bitmap, int64 id.
		if rows[1][0] != 0 || binary.LittleEndian.Uint64(rows[1][2:]) != 1 || !bytes.Contains(rows[1], []byte("name-1")) {
			t.Fatalf("row %q", rows[1])
		}
		if rows, st = fetch(3); len(rows) != 3 || st != StatusAutocommit|StatusCursorExists {
			t.Fatalf("fetch 2: %d rows, status %#x", len(rows), st)
		}
		if rows, st = fetch(3); len(rows) != 0 || st != StatusAutocommit|StatusLastRowSent {
			t.Fatalf("fetch 3: %d rows, status %#x", len(rows), st)
		}
		rc.command(comStmtFetch, append(appendUint32(nil, id), 1, 0, 0, 0))
		if p := rc.read(); errCode(p) != erStmtHasNoOpenCursor || !strings.Contains(string(p), "The statement (1) has no open cursor") {
			t.Fatalf("fetch after the end: %q", p)
		}
		// COM_STMT_RESET closes a cursor.
		rc.command(comStmtExecute, exec)
		for range cols + 2 {
			rc.read()
		}
		rc.command(comStmtReset, appendUint32(nil, id))
		rc.parseOK(rc.read())
		rc.command(comStmtFetch, append(appendUint32(nil, id), 1, 0, 0, 0))
		if p := rc.read(); errCode(p) != erStmtHasNoOpenCursor {
			t.Fatalf("fetch after reset: %q", p)
		}
	}
}

func TestPreparedStatementErrors(t *testing.T) {
	ts := startServer(t, nil)
	rc := dialRaw(t, ts.addr)
	rc.mustLogin("root", "", "", CapDeprecateEOF)
	rc.command(comStmtExecute, append(appendUint32(nil, 77), 0, 1, 0, 0, 0))
	if p := rc.read(); string(p) != "\xff\xdb\x04#HY000Unknown prepared statement handler (77) given to mysqld_stmt_execute" {
		t.Fatalf("unknown statement: %q", p)
	}
	rc.command(comStmtPrepare, []byte("select bindvars ?, ?"))
	prep := rc.read()
	if len(prep) != 12 || binary.LittleEndian.Uint16(prep[7:]) != 2 {
		t.Fatalf("prepare: %q", prep)
	}
	param := rc.read()
	if want := "\x03def\x00\x00\x00\x01?\x00\f?\x00\x00\x00\x00\x00\x06\x80\x00\x00\x00\x00"; string(param) != want {
		t.Fatalf("parameter definition %q, want MariaDB's %q", param, want)
	}
	rc.read()
	rc.read() // the column
	// Executing without ever sending the types.
	rc.command(comStmtExecute, append(appendUint32(nil, lastStatement), 0, 1, 0, 0, 0, 0, 0))
	if p := rc.read(); errCode(p) != erWrongArguments {
		t.Fatalf("no types: %q", p)
	}
	// Truncated values.
	rc.command(comStmtExecute, append(appendUint32(nil, 1), 0, 1, 0, 0, 0, 0, 1, typeLongLong, 0, typeLongLong, 0x80, 1, 2))
	if p := rc.read(); errCode(p) != erWrongArguments {
		t.Fatalf("truncated: %q", p)
	}
	// A DECIMAL parameter must look like a number (it is passed on
	// unquoted).
	b := append(appendUint32(nil, 1), 0, 1, 0, 0, 0, 0, 1, typeNewDecimal, 0, typeNewDecimal, 0)
	b = appendLenEncString(appendLenEncString(b, "1.5"), "1); drop table x; --")
	rc.command(comStmtExecute, b)
	if p := rc.read(); errCode(p) != erWrongArguments {
		t.Fatalf("bad decimal: %q", p)
	}
	// Long data then execute; types remembered from the last execute
	// that sent them... none sent successfully yet, so send them.
	rc.command(comStmtSendLongData, append(appendUint32(nil, 1), append([]byte{0, 0}, "hello "...)...))
	rc.command(comStmtSendLongData, append(appendUint32(nil, 1), append([]byte{0, 0}, "world"...)...))
	b = append(appendUint32(nil, 1), 0, 1, 0, 0, 0, 0, 1, typeBlob, 0, typeLongLong, paramUnsigned)
	b = binary.LittleEndian.AppendUint64(b, 1<<63+5)
	rc.command(comStmtExecute, b)
	_, rows, _ := rc.readResultSet()
	if len(rows) != 1 || !bytes.Contains(rows[0], []byte("VARBINARY:hello world")) || !bytes.Contains(rows[0], []byte("UINT64:9223372036854775813")) {
		t.Fatalf("long data row %q", rows)
	}
	// Types are remembered: execute without them.
	b = append(appendUint32(nil, 1), 0, 1, 0, 0, 0, 0x01, 0)
	b = binary.LittleEndian.AppendUint64(b, 7)
	rc.command(comStmtExecute, b)
	_, rows, _ = rc.readResultSet()
	if len(rows) != 1 || !bytes.Contains(rows[0], []byte("NULL_TYPE:")) || !bytes.Contains(rows[0], []byte("UINT64:7")) {
		t.Fatalf("remembered types %q", rows)
	}
	// COM_STMT_CLOSE tells the handler; the statement is then unknown.
	rc.command(comStmtClose, appendUint32(nil, 1))
	rc.command(comStmtExecute, b)
	if p := rc.read(); errCode(p) != erUnknownStmtHandler {
		t.Fatalf("after close: %q", p)
	}
	ts.handler.mu.Lock()
	closed := ts.handler.closedStmts
	ts.handler.mu.Unlock()
	if len(closed) != 1 || closed[0] != 1 {
		t.Fatalf("handler closed %v", closed)
	}
}

func TestLongDataIsBounded(t *testing.T) {
	ts := startServer(t, func(cfg *Config) { cfg.MaxPacketSize = 40 })
	rc := dialRaw(t, ts.addr)
	rc.mustLogin("root", "", "", CapDeprecateEOF)
	rc.command(comStmtPrepare, []byte("select bindvars ?, ?"))
	for range 4 {
		rc.read()
	}
	chunk := append(appendUint32(nil, 1), append([]byte{0, 0}, strings.Repeat("x", 30)...)...)
	rc.command(comStmtSendLongData, chunk)
	rc.command(comStmtSendLongData, chunk)
	b := append(appendUint32(nil, 1), 0, 1, 0, 0, 0, 0, 1, typeBlob, 0, typeLongLong, 0)
	b = binary.LittleEndian.AppendUint64(b, 1)
	rc.command(comStmtExecute, b)
	if p := rc.read(); errCode(p) != erNetPacketTooLarge {
		t.Fatalf("long data too large: %q", p)
	}
	// The error cleared the long data: the next execution runs.
	rc.command(comStmtSendLongData, chunk)
	rc.command(comStmtExecute, b)
	if _, rows, _ := rc.readResultSet(); len(rows) != 1 {
		t.Fatal("execution after a long data error failed")
	}
}

func TestSessionTracking(t *testing.T) {
	ts := startServer(t, nil)
	rc := dialRaw(t, ts.addr)
	rc.mustLogin("root", "", "", CapSessionTrack|CapDeprecateEOF)
	rc.command(comInitDB, []byte("t"))
	// MariaDB's bytes for USE t and SET autocommit=0.
	if p := rc.read(); string(p) != "\x00\x00\x00\x02@\x00\x00\x00\x04\x01\x02\x01t" {
		t.Fatalf("USE t: %q", p)
	}
	rc.command(comQuery, []byte("set autocommit=0"))
	if p := rc.read(); string(p) != "\x00\x00\x00\x00@\x00\x00\x00\x11\x00\x0f\x0aautocommit\x03OFF" {
		t.Fatalf("SET autocommit=0: %q", p)
	}
	rc.command(comQuery, []byte("update t set x = 1"))
	ok := rc.parseOK(rc.read())
	if ok.affected != 2 || ok.warnings != 1 || ok.info != "Rows matched: 3  Changed: 2  Warnings: 1" || ok.status != 0 {
		t.Fatalf("update: %+v", ok)
	}
	// Several changes in one OK.
	rc.command(comQuery, []byte("set names utf8mb4"))
	ok = rc.parseOK(rc.read())
	if ok.status != StatusSessionStateChange || !bytes.Contains(ok.state, []byte("character_set_results\x07utf8mb4")) || ok.state[0] != 0 {
		t.Fatalf("set names: %+v", ok)
	}
	// The end of a result set (an OK with 0xfe) carries changes too.
	rc.command(comQuery, []byte("use u; select 1"))
	p := rc.read()
	if ok = rc.parseOK(p); ok.status&StatusMoreResultsExist == 0 || string(ok.state) != "\x01\x02\x01u" {
		t.Fatalf("use in a multi-statement: %+v", ok)
	}
	_, _, end := rc.readResultSet()
	if st := rc.parseOK(end).status; st != 0 {
		t.Fatalf("end of the last result: status %#x", st)
	}
	// A client that does not track gets no state (the flags the session
	// reports that belong to the server are dropped).
	rc2 := dialRaw(t, ts.addr)
	rc2.mustLogin("root", "", "", 0)
	rc2.command(comQuery, []byte("set autocommit=0"))
	if p := rc2.read(); string(p) != "\x00\x00\x00\x00\x00\x00\x00" {
		t.Fatalf("untracked: %q", p)
	}
	rc2.command(comQuery, []byte("begin"))
	if ok := rc2.parseOK(rc2.read()); ok.status != StatusInTrans {
		t.Fatalf("in transaction: %+v", ok)
	}
}

func TestChangeUserAndResetConnection(t *testing.T) {
	ts := startServer(t, nil)
	rc := dialRaw(t, ts.addr)
	rc.mustLogin("app", "s3cret", "first", CapDeprecateEOF)
	query := func(sql string) string {
		rc.command(comQuery, []byte(sql))
		_, rows, end := rc.readResultSet()
		if len(rows) != 1 {
			t.Fatalf("%s: %q", sql, end)
		}
		return string(rows[0][1:])
	}
	rc.command(comStmtPrepare, []byte("select 1"))
	rc.read() // the prepare answer
	rc.read() // its column
	changeUser := func(user string, auth []byte, db, plugin string) []byte {
		b := append([]byte(user), 0, byte(len(auth)))
		b = append(b, auth...)
		b = append(append(b, db...), 0)
		b = append(b, 45, 0)
		b = append(append(b, plugin...), 0)
		b = append(b, 0) // no attributes
		rc.command(comChangeUser, b)
		return rc.read()
	}
	// A wrong password: 1045, and the connection stays as it was.
	if p := changeUser("other", ScrambleNativePassword(rc.scramble, "wrong"), "second", NativePassword); errCode(p) != erAccessDenied {
		t.Fatalf("bad password: %q", p)
	}
	if got := query("select user()"); got != "app gen0" {
		t.Fatalf("after a failed change: %q", got)
	}
	// The right one: a fresh session for the new user, in the new database.
	if p := changeUser("other", ScrambleNativePassword(rc.scramble, "other"), "second", NativePassword); p[0] != okHeader {
		t.Fatalf("change user: %q", p)
	}
	if got := query("select user()"); got != "other gen1" {
		t.Fatalf("after change user: %q", got)
	}
	if got := query("select database()"); got != "second" {
		t.Fatalf("database after change user: %q", got)
	}
	ts.handler.mu.Lock()
	closed := len(ts.handler.closedStmts)
	ts.handler.mu.Unlock()
	if closed != 1 {
		t.Fatalf("prepared statements closed on the handler: %d, want 1", closed)
	}
	// A user that needs caching_sha2_password: switched, same scramble.
	p := changeUser("sha2", ScrambleNativePassword(rc.scramble, "sha2pw"), "", NativePassword)
	if p[0] != eofHeader || !bytes.HasPrefix(p[1:], []byte(CachingSHA2Password+"\x00")) || !bytes.Equal(p[len(CachingSHA2Password)+2:len(p)-1], rc.scramble) {
		t.Fatalf("auth switch %q", p)
	}
	rc.write(ScrambleCachingSHA2(rc.scramble, "sha2pw"))
	if p := rc.read(); string(p) != "\x01\x03" {
		t.Fatalf("fast auth: %q", p)
	}
	if p := rc.read(); p[0] != okHeader {
		t.Fatalf("after fast auth: %q", p)
	}
	if got := query("select user()"); got != "sha2 gen2" {
		t.Fatalf("after change to sha2: %q", got)
	}
	// COM_RESET_CONNECTION: a fresh session, same user.
	rc.command(comResetConnection, nil)
	rc.parseOK(rc.read())
	if got := query("select user()"); got != "sha2 gen3" {
		t.Fatalf("after reset: %q", got)
	}
	if ts.Conn(rc.connID).User() != "sha2" {
		t.Fatal("Conn.User after change user")
	}
}

func TestSmallCommands(t *testing.T) {
	ts := startServer(t, nil)
	rc := dialRaw(t, ts.addr)
	rc.mustLogin("root", "", "", 0)
	expect := func(what string, cmd byte, data []byte, want string) {
		t.Helper()
		rc.command(cmd, data)
		if p := rc.read(); string(p) != want {
			t.Fatalf("%s: %q, want %q", what, p, want)
		}
	}
	expect("ping", comPing, nil, "\x00\x00\x00\x02\x00\x00\x00")
	expect("debug", comDebug, nil, "\xfe\x00\x00\x02\x00")
	expect("set option off", comSetOption, []byte{1, 0}, "\xfe\x00\x00\x02\x00")
	expect("multi-statements off", comQuery, []byte("select 1; select 1"), "\xff\x28\x04#42000You have an error in your SQL syntax near 'select 1; select 1'")
	expect("set option on", comSetOption, []byte{0, 0}, "\xfe\x00\x00\x02\x00")
	expect("set option bad", comSetOption, []byte{7, 0}, "\xff\x17\x04#08S01Unknown command")
	expect("unknown", 0x20, nil, "\xff\x17\x04#08S01Unknown command")
	expect("sleep", comSleep, nil, "\xff\x17\x04#08S01Unknown command")
	expect("binlog", comBinlogDumpGTID, nil, "\xff\xd3\x04#42000This server does not support replicating from it (binlog commands)")
	expect("kill unknown", comProcessKill, appendUint32(nil, 9999), "\xffF\x04#HY000Unknown thread id: 9999")
	// Another user's connection cannot be killed.
	other := dialRaw(t, ts.addr)
	other.mustLogin("app", "s3cret", "", 0)
	expect("kill not owner", comProcessKill, appendUint32(nil, other.connID), "\xff\x47\x04#HY000You are not owner of thread "+itoa(other.connID))
	expect("local files not allowed", comQuery, []byte("load data local infile 'x' into table t"),
		"\xff\x46\x10#HY000The used command is not allowed because the MariaDB server or client has disabled the local infile capability")
	// Field list: definitions with a NULL default, then the end.
	rc.command(comFieldList, []byte("t\x00"))
	if p := rc.read(); !bytes.HasPrefix(p, []byte("\x03def\x01x\x01t\x01t\x02id\x02id\x0c?\x00")) || p[len(p)-1] != 0xfb {
		t.Fatalf("field list: %q", p)
	}
	rc.read()
	if p := rc.read(); string(p) != "\xfe\x00\x00\x02\x00" {
		t.Fatalf("field list end: %q", p)
	}
	expect("field list error", comFieldList, []byte("nope\x00"), "\xff\x7a\x04#42S02Table 'x.nope' doesn't exist")
	// Statistics: the server's own line when the handler has none.
	rc.command(comStatistics, nil)
	if p := string(rc.read()); !strings.HasPrefix(p, "Uptime: ") || !strings.Contains(p, "  Threads: 2  Questions: ") || !strings.HasSuffix(p, "Queries per second avg: 0.000") && !strings.Contains(p, "Queries per second avg: ") {
		t.Fatalf("statistics: %q", p)
	}
	// COM_QUIT closes.
	rc.command(comQuit, nil)
	if _, err := rc.tryRead(); err == nil {
		t.Fatal("connection open after COM_QUIT")
	}
}

func itoa(v uint32) string { return string(appendUint(nil, uint64(v))) }

func appendUint(b []byte, v uint64) []byte {
	if v >= 10 {
		b = appendUint(b, v/10)
	}
	return append(b, byte('0'+v%10))
}

func TestPacketLimitsAndOrder(t *testing.T) {
	ts := startServer(t, func(cfg *Config) { cfg.MaxPacketSize = 20 << 20 })
	// A payload over 16 MiB arrives whole (in two packets) and a row
	// over 16 MiB leaves whole.
	rc := dialRaw(t, ts.addr)
	rc.mustLogin("root", "", "", CapDeprecateEOF)
	query := "select length " + strings.Repeat("x", 17<<20)
	payload := append([]byte{comQuery}, query...)
	rc.seq = 0
	rc.write(payload[:maxPayload])
	rc.write(payload[maxPayload:])
	_, rows, _ := rc.readResultSet()
	if len(rows) != 1 || string(rows[0][1:]) != itoa(uint32(len(query))) {
		t.Fatalf("length row %q, want %d", rows, len(query))
	}
	rc.command(comQuery, []byte("select big 17000000"))
	_, rows, _ = rc.readResultSet()
	if len(rows) != 1 || len(rows[0]) != 9+17000000 {
		t.Fatalf("big row of %d bytes", len(rows[0]))
	}
	// Over max_allowed_packet: 1153 as soon as the header says so, and
	// the connection closes.
	small := startServer(t, func(cfg *Config) { cfg.MaxPacketSize = 1024 })
	rc = dialRaw(t, small.addr)
	rc.mustLogin("root", "", "", 0)
	rc.conn.Write([]byte{0x01, 0x04, 0, 0, comQuery})
	rc.seq = 1
	if p := rc.read(); string(p) != "\xff\x81\x04#08S01Got a packet bigger than 'max_allowed_packet' bytes" {
		t.Fatalf("got %q", p)
	}
	if _, err := rc.tryRead(); err == nil {
		t.Fatal("connection open after a packet too large")
	}
	// Packets out of order.
	rc = dialRaw(t, ts.addr)
	rc.mustLogin("root", "", "", 0)
	rc.seq = 5
	rc.write([]byte{comPing})
	if p := rc.read(); errCode(p) != erNetPacketsOutOfOrder {
		t.Fatalf("out of order: %q", p)
	}
	// Before login, a handshake response is bounded.
	rc = dialRaw(t, ts.addr)
	rc.conn.Write([]byte{0, 0, 2, 1})
	rc.seq = 2
	if p := rc.read(); errCode(p) != erNetPacketTooLarge {
		t.Fatalf("large handshake response: %q", p)
	}
}

func TestRequireTLSAndMaxConnections(t *testing.T) {
	ca := newTestCA(t)
	ts := startServer(t, func(cfg *Config) {
		cfg.TLS = ca.serverConfig(t, "127.0.0.1")
		cfg.RequireTLS = true
		cfg.MaxConnections = 2
	})
	rc := dialRaw(t, ts.addr)
	if rc.server&CapSSL == 0 {
		t.Fatal("CLIENT_SSL not offered")
	}
	rc.startTLS(&tls.Config{RootCAs: ca.pool, ServerName: "127.0.0.1"}, 0)
	rc.caps &^= CapSSL
	rc.caps |= CapSSL
	rc.writeHandshakeResponse("full", CachingSHA2Password, ScrambleCachingSHA2(rc.scramble, "fullpw"), "")
	// Full authentication: the server asks for the password in clear.
	if p := rc.read(); string(p) != "\x01\x04" {
		t.Fatalf("full auth request %q", p)
	}
	rc.write([]byte("fullpw\x00"))
	if p := rc.read(); p[0] != okHeader {
		t.Fatalf("full auth: %q", p)
	}
	if c := ts.Conn(rc.connID); c.TLS() == nil || c.TLS().Version < tls.VersionTLS12 {
		t.Fatal("no TLS state")
	}
	// The second connection is the last allowed; the third is refused.
	rc2 := dialRaw(t, ts.addr)
	nc3, err := dialRawErr(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc3.Close()
	p := readOnePacket(t, nc3)
	if string(p) != "\xff\x10\x04#08004Too many connections" {
		t.Fatalf("third connection: %q", p)
	}
	// Without TLS: 3159.
	if p := rc2.login("app", "s3cret", "", 0); string(p) != "\xff\x57\x0c#HY000Connections using insecure transport are prohibited while --require_secure_transport=ON." {
		t.Fatalf("insecure login: %q", p)
	}
	waitFor(t, 5*time.Second, "a connection slot", func() bool { return ts.Stats().Connections < 2 })
	rc3 := dialRaw(t, ts.addr)
	rc3.startTLS(&tls.Config{RootCAs: ca.pool, ServerName: "127.0.0.1"}, 0)
	rc3.writeHandshakeResponse("app", NativePassword, ScrambleNativePassword(rc3.scramble, "s3cret"), "")
	if p := rc3.read(); p[0] != okHeader {
		t.Fatalf("TLS login after a slot freed: %q", p)
	}
}

// MariaDB's clients ask for extended metadata; a JSON column is described
// with format=json, byte for byte as MariaDB 10.11 describes one.
func TestExtendedMetadata(t *testing.T) {
	ts := startServer(t, nil)
	rc := dialRaw(t, ts.addr)
	// The greeting leaves out CLIENT_LONG_PASSWORD (CLIENT_MYSQL) and
	// offers MARIADB_CLIENT_EXTENDED_METADATA in its last reserved bytes.
	if rc.server&CapLongPassword != 0 {
		t.Fatal("CLIENT_LONG_PASSWORD offered: MariaDB clients would not send extended capabilities")
	}
	if ext := binary.LittleEndian.Uint32(rc.greeting[len(rc.greeting)-len(NativePassword)-1-13-4:]); ext != ExtCapExtendedMetadata {
		t.Fatalf("extended capabilities offered %#x", ext)
	}
	rc.extCaps = 0x1d // libmariadb's: progress, bulk, extended and cached metadata
	rc.caps = rawClientCaps &^ CapLongPassword
	rc.writeHandshakeResponse("root", NativePassword, nil, "")
	if p := rc.read(); p[0] != okHeader {
		t.Fatalf("login: %q", p)
	}
	if got := ts.Conn(rc.connID).ExtendedCapabilities(); got != ExtCapExtendedMetadata {
		t.Fatalf("negotiated %#x", got)
	}
	rc.command(comQuery, []byte("select json"))
	rc.read()
	if p := rc.read(); string(p) != "\x03def\x01t\x01j\x01j\x02js\x02js\x06\x01\x04json\x0c!\x00\xff\xff\xff\xff\xfc\x90\x00\x00\x00\x00" {
		t.Fatalf("JSON column %q", p)
	}
	rc.read()
	rc.read()
	rc.read()
	rc.command(comQuery, []byte("select 1"))
	rc.read()
	if p := rc.read(); string(p) != "\x03def\x00\x00\x00\x011\x00\x00\x0c?\x00\x01\x00\x00\x00\x08\x00\x00\x00\x00\x00" {
		t.Fatalf("plain column %q", p)
	}
}
