package gateway

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/gateway/mysqlserver"
)

// The wire fuzzers drive the gate's real MySQL front end (mysqlserver
// with the gate's handler and executor, over fake tablets) with what a
// hostile client may send, before and after logging in. A panic the
// server or the handler recovers from is still a bug: each fails the
// fuzz run, so that it is fixed where it happens.

type wireServer struct {
	addr string
	logs *observer.ObservedLogs
}

func startWireServer(f testing.TB) *wireServer {
	e := testExecutor(f, map[string]unaryClient{"ks/-80": rowsTablet(2), "ks/80-": rowsTablet(2), "main/0": rowsTablet(1)})
	auth, err := NewAuthenticator(DefaultUsers())
	if err != nil {
		f.Fatal(err)
	}
	auth.throttle = nil // failed logins are the fuzzer's daily bread: do not slow them
	core, logs := observer.New(zap.ErrorLevel)
	addr := f.TempDir() + "/gate.sock"
	srv, err := mysqlserver.Listen(mysqlserver.Config{
		Addr: addr, ServerVersion: "5.5.5-10.11.0-MariaDB-Shardgate", Auth: auth,
		Handler: &mysqlHandler{executor: e, metrics: e.metrics}, SplitStatements: statementSplitter(sqlparser.NewTestParser()),
		HandshakeTimeout: 5 * time.Second, Log: zap.New(core),
	})
	if err != nil {
		f.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	f.Cleanup(func() { _ = srv.Close() })
	return &wireServer{addr: addr, logs: logs}
}

// packets splits fuzz input into MySQL packets: a sequence byte and a
// 2-byte length, then that many bytes (fewer at the end).
func packets(input []byte) []byte {
	var out []byte
	for len(input) >= 3 {
		seq, n := input[0], int(binary.LittleEndian.Uint16(input[1:]))
		input = input[3:]
		n = min(n, len(input))
		out = append(out, byte(n), byte(n>>8), 0, seq)
		out = append(out, input[:n]...)
		input = input[n:]
	}
	return out
}

func readPacket(r *bufio.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	p := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
	_, err := io.ReadFull(r, p)
	return p, err
}

// session sends raw after the greeting (and, with login, after logging
// in as root), then waits for the server to close the connection.
func (w *wireServer) session(t *testing.T, login bool, raw []byte) {
	conn, err := net.DialTimeout("unix", w.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	r := bufio.NewReader(conn)
	if _, err := readPacket(r); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	if login {
		const caps = 0x0200 | 0x8000 | 0x80000 | 0x10000 | 0x20000 | 0x0008 | 0x1000000 // 4.1, secure conn, plugin auth, multi statements and results, connect with db, deprecate EOF
		var resp []byte
		resp = binary.LittleEndian.AppendUint32(resp, caps)
		resp = binary.LittleEndian.AppendUint32(resp, 1<<24)
		resp = append(resp, 45)
		resp = append(resp, make([]byte, 23)...)
		resp = append(resp, "root\x00"...)
		resp = append(resp, 0) // empty password
		resp = append(resp, "ks\x00mysql_native_password\x00"...)
		header := []byte{byte(len(resp)), byte(len(resp) >> 8), 0, 1}
		if _, err := conn.Write(append(header, resp...)); err != nil {
			t.Fatal(err)
		}
		ok, err := readPacket(r)
		if err != nil || len(ok) == 0 || ok[0] != 0 {
			t.Fatalf("login: %q, %v", ok, err)
		}
	}
	go func() {
		_, _ = conn.Write(raw)
		_ = conn.(*net.UnixConn).CloseWrite()
	}()
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatalf("the gate did not close the connection once the client was done: %v", err)
	}
	for _, e := range w.logs.FilterMessageSnippet("panic").All() {
		t.Fatalf("%s: %v", e.Message, e.ContextMap())
	}
	if n := splitterPanics.Load(); n > 0 {
		t.Fatalf("Vitess's statement splitter panicked %d times", n)
	}
}

func FuzzGateWire(f *testing.F) {
	cmd := func(c byte, payload string) []byte {
		return append([]byte{0, byte(len(payload) + 1), 0, c}, payload...)
	}
	f.Add(cmd(0x03, "select id from acct where id = 1"))
	f.Add(cmd(0x03, "select 1; select 2; begin; insert into acct (id) values (1); commit"))
	f.Add(cmd(0x03, "show query stats order by calls desc limit 1"))
	f.Add(cmd(0x16, "select id from acct where id = ?"))                                                                   // COM_STMT_PREPARE
	f.Add(append(cmd(0x16, "select ?"), cmd(0x1a, "\x09\x00\x00\x00")...))                                                 // COM_STMT_RESET of an unknown statement
	f.Add(append(cmd(0x16, "select ?"), cmd(0x17, "\x01\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\xfe\x00\xfc\xff\xff")...)) // huge length-encoded parameter
	f.Add(cmd(0x03, "select 'a;b'; select \"c;\"; /* ; */ select `;`"))
	f.Add(cmd(0x11, "root\x00\x00ks\x00\x2d\x00mysql_native_password\x00")) // COM_CHANGE_USER
	w := startWireServer(f)
	f.Fuzz(func(t *testing.T, input []byte) {
		w.session(t, true, packets(input))
	})
}

func FuzzGateHandshake(f *testing.F) {
	f.Add([]byte{1, 0, 0, 1, 0})                                 // a one-byte handshake response
	f.Add([]byte{32, 0, 0, 1, 0x0d, 0xa2, 0, 0, 0, 0, 0, 1, 45}) // cut short after the fixed part
	f.Add(append([]byte{40, 0, 0, 1, 0x0d, 0xa2, 0x3a, 0, 0, 0, 0, 1, 45}, make([]byte, 27)...))
	f.Add([]byte{0xff, 0xff, 0xff, 1})                                                                                                                      // a huge packet announced
	f.Add(append([]byte{60, 0, 0, 1, 0x0d, 0xa2, 0x3a, 0, 0, 0, 0, 1, 45}, append(make([]byte, 23), "root\x00\xfe\xff\xff\xff\xff\xff\xff\xff\xff"...)...)) // huge length-encoded auth
	w := startWireServer(f)
	f.Fuzz(func(t *testing.T, input []byte) {
		w.session(t, false, input)
	})
}
