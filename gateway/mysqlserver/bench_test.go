package mysqlserver

import (
	"net"
	"testing"
	"time"

	"go.uber.org/zap"
	"vitess.io/vitess/go/sqltypes"
)

// discardConn is a connection whose writes go nowhere.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }
func (discardConn) SetReadDeadline(time.Time) error  { return nil }
func (discardConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func benchConn() *Conn {
	s := &Server{cfg: Config{MaxPacketSize: DefaultMaxPacketSize, IdleTimeout: DefaultIdleTimeout}, log: zap.NewNop()}
	c := newConn(s, discardConn{})
	c.caps = serverCapabilities
	return c
}

// benchResult encodes res as one statement's response, as COM_QUERY
// (text) or COM_STMT_EXECUTE (binary) does, and flushes it.
func benchResult(b *testing.B, res *sqltypes.Result, binary bool) {
	c := benchConn()
	var bytes int64
	b.ReportAllocs()
	for b.Loop() {
		w := c.newResultWriter(binary)
		if err := c.write(res); err != nil {
			b.Fatal(err)
		}
		if err := w.finish(nil, false); err != nil {
			b.Fatal(err)
		}
		bytes = int64(len(c.wbuf))
		if err := c.flush(); err != nil {
			b.Fatal(err)
		}
		c.releaseBuffers()
	}
	b.SetBytes(bytes)
}

// 100 rows of (BIGINT, VARCHAR, DECIMAL, DATETIME).
func BenchmarkTextResult100(b *testing.B)   { benchResult(b, rowsResult(100), false) }
func BenchmarkBinaryResult100(b *testing.B) { benchResult(b, rowsResult(100), true) }

// One row of every type.
func BenchmarkBinaryResultAllTypes(b *testing.B) {
	benchResult(b, &sqltypes.Result{Fields: typesFields, Rows: [][]sqltypes.Value{typesRow()}}, true)
}

// A point select's whole round trip through a real socket (client and
// server in this process): COM_QUERY in, one row out.
func BenchmarkPointSelectRoundTrip(b *testing.B) {
	ts := startServer(b, nil)
	rc := dialRaw(b, ts.addr)
	rc.mustLogin("root", "", "", CapDeprecateEOF)
	_ = rc.conn.SetDeadline(time.Time{})
	b.ReportAllocs()
	for b.Loop() {
		rc.command(comQuery, []byte("select 1"))
		rc.readResultSet()
	}
}
