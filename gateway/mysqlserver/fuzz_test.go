package mysqlserver

import (
	"encoding/binary"
	"io"
	"testing"
	"time"
)

// FuzzServerCommands sends arbitrary packets after a successful login:
// the server must never panic (the test's cleanup fails on a logged panic
// of the server itself; the handler's own "panic" statement is allowed)
// and never hang: once the client stops sending, the server answers what
// it got and closes the connection.
//
// The input is a sequence of packets, each [sequence id][length, 2 bytes
// little-endian][payload].
func FuzzServerCommands(f *testing.F) {
	packet := func(seq byte, payload ...byte) []byte {
		return append([]byte{seq, byte(len(payload)), byte(len(payload) >> 8)}, payload...)
	}
	cat := func(ps ...[]byte) []byte {
		var out []byte
		for _, p := range ps {
			out = append(out, p...)
		}
		return out
	}
	query := func(sql string) []byte { return packet(0, append([]byte{comQuery}, sql...)...) }
	prepare := func(sql string) []byte { return packet(0, append([]byte{comStmtPrepare}, sql...)...) }
	f.Add(query("select 1"))
	f.Add(query("select types; select rows 3; error; select 1"))
	f.Add(query("panic after rows"))
	f.Add(cat(query("load data local infile 'x' into table t"), packet(2, 'a', ',', 'b', '\n'), packet(3)))
	f.Add(cat(query("load data local half 'x' into table t"), packet(2, 'a', 'b', 'c', 'd'), packet(3)))
	f.Add(cat(prepare("select bindvars ?, ?, ?"),
		packet(0, comStmtSendLongData, 1, 0, 0, 0, 0, 0, 'x', 'y'),
		packet(0, comStmtExecute, 1, 0, 0, 0, 0, 1, 0, 0, 1, typeTiny, 0, typeLongLong, 0x80, typeVarString, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8, 3, 'a', 'b', 'c')))
	f.Add(cat(prepare("select rows 5"),
		packet(0, comStmtExecute, 1, 0, 0, 0, 1, 1, 0, 0, 0),
		packet(0, comStmtFetch, 1, 0, 0, 0, 2, 0, 0, 0),
		packet(0, comStmtFetch, 1, 0, 0, 0, 9, 0, 0, 0),
		packet(0, comStmtReset, 1, 0, 0, 0),
		packet(0, comStmtClose, 1, 0, 0, 0)))
	f.Add(cat(prepare("select bindvars ?"),
		packet(0, comStmtExecute, 0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0, 0, 0, 1, typeDatetime, 0, 11, 0xe8, 0x07, 2, 29, 13, 14, 15, 1, 2, 3, 0),
		packet(0, comStmtExecute, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, typeTime, 0, 12, 1, 2, 0, 0, 0, 3, 4, 5, 1, 2, 3, 0),
		packet(0, comStmtExecute, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, typeNewDecimal, 0, 3, '1', '.', '5')))
	f.Add(cat(packet(0, comChangeUser, 'a', 'p', 'p', 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 'd', 0, 45, 0, 'x', 0, 0),
		packet(2, 1, 2, 3)))
	f.Add(cat(packet(0, comChangeUser, 's', 'h', 'a', '2', 0, 0, 0, 45, 0), packet(2, 1, 2, 3)))
	f.Add(cat(packet(0, comFieldList, 't', 0, '%'), packet(0, comStatistics), packet(0, comPing), packet(0, comDebug),
		packet(0, comSetOption, 1, 0), packet(0, comInitDB, 'd', 'b'), packet(0, comResetConnection), packet(0, comProcessKill, 1, 0, 0, 0),
		packet(0, 0x99), packet(0, comBinlogDump), packet(0, comQuit)))
	f.Add(cat(packet(0), packet(5, comPing), packet(0, comQuery)))
	f.Add(prepare("select rows ")) // the test handler panics here

	// A unix socket: no TIME_WAIT to run out of ports with.
	ts := startServer(f, func(cfg *Config) { cfg.Addr = f.TempDir() + "/mysql.sock" })
	ts.handler.noSleep = true
	f.Fuzz(func(t *testing.T, input []byte) {
		rc := dialRaw(t, ts.addr)
		rc.mustLogin("root", "", "", CapDeprecateEOF|CapSessionTrack|CapLocalFiles)
		var out []byte
		for len(input) >= 3 {
			seq, n := input[0], int(binary.LittleEndian.Uint16(input[1:]))
			input = input[3:]
			n = min(n, len(input))
			out = append(out, byte(n), byte(n>>8), 0, seq)
			out = append(out, input[:n]...)
			input = input[n:]
		}
		go func() {
			_, _ = rc.conn.Write(out)
			_ = rc.conn.(interface{ CloseWrite() error }).CloseWrite()
		}()
		_ = rc.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, rc.r); err != nil {
			t.Fatalf("the server did not close the connection once the client was done: %v", err)
		}
		waitFor(t, 10*time.Second, "the connection to end on the server", func() bool { return ts.Conn(rc.connID) == nil })
		for _, e := range ts.logs.FilterMessageSnippet("panic in the MySQL server").All() {
			t.Fatalf("server panicked: %v", e.ContextMap())
		}
	})
}
