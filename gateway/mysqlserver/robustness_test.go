package mysqlserver

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// A flood of connections that never log in is closed after
// HandshakeTimeout.
func TestHandshakeTimeoutClosesAFlood(t *testing.T) {
	const n = 2000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 2*n+200 {
		t.Skipf("needs %d file descriptors (have %d)", 2*n+200, lim.Cur)
	}
	ts := startServer(t, func(cfg *Config) { cfg.HandshakeTimeout = time.Second })
	type flooder struct {
		conn   net.Conn
		dialed time.Time
	}
	conns := make([]flooder, 0, n)
	defer func() {
		for _, c := range conns {
			c.conn.Close()
		}
	}()
	for range n {
		// The time before dialing: the server's handshake timer starts
		// later (at accept), so no close can be seen before dialed plus
		// the timeout, however long this goroutine waits after Dial.
		dialed := time.Now()
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, flooder{c, dialed})
	}
	// Each client sees its connection end after the greeting, no sooner
	// than the handshake timeout.
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.Copy(io.Discard, c.conn); err != nil {
				errs <- err
			} else if d := time.Since(c.dialed); d < time.Second {
				errs <- fmt.Errorf("closed after %v, before the handshake timeout", d)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a flooding connection: %v", err)
	}
	waitFor(t, 10*time.Second, "the server to drop the connections", func() bool { return ts.Stats().Connections == 0 })
}

// A client announcing a 16 MB packet and sending nothing costs the server
// little memory, before and after login.
func TestAnnouncedHugePacketAllocatesLittle(t *testing.T) {
	ts := startServer(t, nil)
	const n = 64
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	var clients []*rawClient
	for range n {
		rc := dialRaw(t, ts.addr)
		rc.mustLogin("root", "", "", 0)
		rc.conn.Write([]byte{0xff, 0xff, 0xff, 0, comQuery, 's', 'e'})
		clients = append(clients, rc)
	}
	// And as many before login: refused at once.
	for range n {
		rc := dialRaw(t, ts.addr)
		rc.conn.Write([]byte{0xff, 0xff, 0xff, 1})
		rc.seq = 2
		if p := rc.read(); errCode(p) != erNetPacketTooLarge {
			t.Fatalf("huge handshake response: %q", p)
		}
	}
	time.Sleep(200 * time.Millisecond)
	after := heap()
	growth := int64(after) - int64(before)
	t.Logf("heap %d -> %d bytes (%d per connection waiting for 16 MiB)", before, after, growth/n)
	if growth > 16<<20 {
		t.Fatalf("heap grew by %d bytes for %d connections announcing 16 MiB each", growth, n)
	}
	if ts.Stats().Connections != n {
		t.Fatalf("%d connections open, want %d", ts.Stats().Connections, n)
	}
	for _, rc := range clients {
		rc.conn.Close()
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, func(cfg *Config) { cfg.IdleTimeout = time.Hour })
	rc := dialRaw(t, ts.addr)
	rc.mustLogin("root", "", "", 0)
	ts.Conn(rc.connID).SetIdleTimeout(200 * time.Millisecond)
	// The new timeout applies from the next wait for a command.
	rc.command(comPing, nil)
	rc.read()
	start := time.Now()
	if _, err := rc.tryRead(); err == nil {
		t.Fatal("read a packet from an idle connection")
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 5*time.Second {
		t.Fatalf("closed after %v, want about 200ms", d)
	}
	waitFor(t, 5*time.Second, "ConnectionClosed", func() bool {
		ts.handler.mu.Lock()
		defer ts.handler.mu.Unlock()
		return len(ts.handler.closedConns) == 1 && ts.handler.conns == 0
	})
}

// flakyListener fails Accept with EMFILE a number of times, as a process
// out of file descriptors does.
type flakyListener struct {
	net.Listener
	mu       sync.Mutex
	failures int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.failures > 0 {
		l.failures--
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: &osSyscallError{syscall.EMFILE}}
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

type osSyscallError struct{ errno syscall.Errno }

func (e *osSyscallError) Error() string { return "accept4: " + e.errno.Error() }
func (e *osSyscallError) Unwrap() error { return e.errno }

func TestAcceptSurvivesEMFILE(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	s, err := Listen(Config{Addr: "127.0.0.1:0", Auth: newTestAuth(), Handler: newTestHandler(), Log: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	s.ln = &flakyListener{Listener: s.ln, failures: 5}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	defer func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	rc := dialRaw(t, s.Addr().String())
	rc.mustLogin("root", "", "", 0)
	if n := logs.FilterMessage("cannot accept MySQL connections, retrying").Len(); n != 1 {
		t.Errorf("%d warnings for one burst of failures, want 1", n)
	}
	if n := logs.FilterMessage("accepting MySQL connections again").Len(); n != 1 {
		t.Errorf("%d recoveries logged, want 1", n)
	}
}

// Idle logged-in connections give their read buffers back between
// commands (8 KiB each before), and commands still arrive whole however
// the client splits or batches them.
func TestIdleConnectionsHoldNoReadBuffers(t *testing.T) {
	ts := startServer(t, nil)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	const n = 200
	// Twice: what sync.Pools hold survives one collection.
	heap()
	before := heap()
	var clients []*rawClient
	for range n {
		rc := dialRaw(t, ts.addr)
		rc.mustLogin("root", "", "", 0)
		rc.command(comQuery, []byte("select 1"))
		if _, rows, _ := rc.readResultSet(); len(rows) != 1 {
			t.Fatalf("select 1: %q", rows)
		}
		clients = append(clients, rc)
	}
	time.Sleep(idleAfter + 250*time.Millisecond)
	heap()
	perConn := (int64(heap()) - int64(before)) / n
	// The figure includes this test's own client (a 4 KiB bufio.Reader
	// and a connection): about 8 KiB in all, against 16 KiB when the
	// server kept its buffers.
	t.Logf("heap per idle connection, client and server: %d bytes", perConn)
	if perConn > 12<<10 {
		t.Fatalf("heap per idle connection (client and server) %d bytes: the server keeps its read buffers while idle", perConn)
	}

	rc := clients[0]
	// Two commands in one write.
	pipelined := append(packetBytes(0, append([]byte{comQuery}, "select 1"...)), packetBytes(0, []byte{comPing})...)
	if _, err := rc.conn.Write(pipelined); err != nil {
		t.Fatal(err)
	}
	rc.seq = 1
	if _, rows, _ := rc.readResultSet(); len(rows) != 1 {
		t.Fatalf("pipelined select 1: %q", rows)
	}
	rc.seq = 1
	if p := rc.read(); p[0] != 0 {
		t.Fatalf("pipelined ping: %q", p)
	}
	// One command a byte at a time.
	for _, b := range packetBytes(0, append([]byte{comQuery}, "select 1"...)) {
		if _, err := rc.conn.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	rc.seq = 1
	if _, rows, _ := rc.readResultSet(); len(rows) != 1 {
		t.Fatalf("select 1 sent a byte at a time: %q", rows)
	}
}

// packetBytes frames payload as one packet with sequence id seq.
func packetBytes(seq byte, payload []byte) []byte {
	return append([]byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), seq}, payload...)
}
