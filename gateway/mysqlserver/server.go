package mysqlserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Config configures a Server. Zero values take the defaults named.
type Config struct {
	// Addr is "host:port" for TCP, or the path of a unix socket (it
	// starts with "/").
	Addr string
	// ServerVersion is sent in the handshake (e.g.
	// "5.5.5-10.11.6-MariaDB-shardgate"; the "5.5.5-" prefix is what
	// MariaDB sends so that MySQL clients read its version right).
	ServerVersion string
	// Collation is the handshake's character set, default 45
	// (utf8mb4_general_ci).
	Collation uint8

	// TLS, when set, is offered to clients (CLIENT_SSL); RequireTLS then
	// refuses logins over TCP without it (error 3159). Unix sockets count
	// as secure.
	TLS        *tls.Config
	RequireTLS bool

	Auth    Authenticator
	Handler Handler
	// SplitStatements splits a multi-statement COM_QUERY (when the client
	// enabled CLIENT_MULTI_STATEMENTS); nil runs the text as one
	// statement.
	SplitStatements func(sql string) ([]string, error)

	// HandshakeTimeout closes connections that have not logged in by
	// then (MariaDB's connect_timeout; default 10s).
	HandshakeTimeout time.Duration
	// IdleTimeout closes connections idle longer between commands
	// (MariaDB's wait_timeout; default 8h); Conn.SetIdleTimeout changes
	// it per connection.
	IdleTimeout time.Duration
	// MaxPacketSize bounds a command's packet and a prepared statement
	// parameter's long data (MariaDB's max_allowed_packet; default
	// 16 MiB, MariaDB 10.11's default). A larger packet is answered with
	// 1153 and the connection closes.
	MaxPacketSize int
	// MaxConnections bounds open connections, logged in or not; beyond
	// it a new connection gets 1040 "Too many connections". 0: no bound.
	MaxConnections int

	Log *zap.Logger
}

// Defaults of Config.
const (
	DefaultCollation        = 45
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultIdleTimeout      = 28800 * time.Second
	DefaultMaxPacketSize    = 16 << 20
)

// Before login, packets are bounded tightly: a handshake response holds
// the fixed part, a user name, a database name, a plugin name, a scramble
// and connection attributes, which libmysqlclient and libmariadb cap at
// 64 KiB; every other packet before login (an auth switch response, a
// password) is short.
const (
	maxHandshakeResponse = 64<<10 + 4<<10
	maxPreAuthPacket     = 4 << 10
)

// Server accepts MySQL protocol connections and serves them with a
// Handler.
type Server struct {
	cfg     Config
	ln      net.Listener
	log     *zap.Logger
	handler Handler
	started time.Time

	nextID    atomic.Uint32
	questions atomic.Uint64
	closing   atomic.Bool

	mu    sync.Mutex
	conns map[uint32]*Conn
	wg    sync.WaitGroup
	done  chan struct{}
}

// Listen validates cfg and opens its address.
func Listen(cfg Config) (*Server, error) {
	if cfg.Handler == nil || cfg.Auth == nil {
		return nil, errors.New("mysqlserver: Config needs a Handler and an Authenticator")
	}
	if cfg.RequireTLS && cfg.TLS == nil {
		return nil, errors.New("mysqlserver: RequireTLS needs a TLS configuration")
	}
	if cfg.Collation == 0 {
		cfg.Collation = DefaultCollation
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxPacketSize <= 0 {
		cfg.MaxPacketSize = DefaultMaxPacketSize
	}
	if cfg.MaxConnections < 0 {
		return nil, errors.New("mysqlserver: MaxConnections must not be negative")
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	network := "tcp"
	if strings.HasPrefix(cfg.Addr, "/") {
		network = "unix"
	}
	ln, err := net.Listen(network, cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("mysqlserver: listen on %s: %w", cfg.Addr, err)
	}
	s := &Server{
		cfg: cfg, ln: ln, log: cfg.Log, handler: cfg.Handler, started: time.Now(),
		conns: map[uint32]*Conn{}, done: make(chan struct{}),
	}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

func (s *Server) now() time.Time { return time.Now() }

// Serve accepts connections until Close; it returns nil then. Running out
// of file descriptors (EMFILE, ENFILE) or memory for sockets does not stop
// it: it waits, doubling from 5 ms to 1 s, and tries again, logging once
// when this begins and once when it ends.
func (s *Server) Serve() error {
	var delay time.Duration
	var failures int
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if !temporaryAcceptError(err) {
				return fmt.Errorf("mysqlserver: accept: %w", err)
			}
			if delay == 0 {
				delay = 5 * time.Millisecond
				s.log.Warn("cannot accept MySQL connections, retrying", zap.Error(err))
			} else {
				delay = min(2*delay, time.Second)
			}
			failures++
			select {
			case <-time.After(delay):
			case <-s.done:
				return nil
			}
			continue
		}
		if delay != 0 {
			s.log.Info("accepting MySQL connections again", zap.Int("failed_accepts", failures))
			delay, failures = 0, 0
		}
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			_ = nc.Close()
			return nil
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(nc)
	}
}

// temporaryAcceptError reports errors of Accept that pass: out of file
// descriptors or buffer memory, a connection reset before it was
// accepted, a timeout.
func temporaryAcceptError(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EPROTO, syscall.EPERM} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// Close stops accepting, closes every connection and waits until their
// handlers have returned.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closing.Swap(true) {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	conns := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	close(s.done)
	err := s.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	s.wg.Wait()
	return err
}

// Conn returns the open connection with this id, or nil.
func (s *Server) Conn(id uint32) *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[id]
}

// Stats are the server's counters, for COM_STATISTICS.
type Stats struct {
	Uptime      time.Duration
	Connections int    // open connections
	Questions   uint64 // statements received (queries, executions, prepares)
}

// String is the line COM_STATISTICS answers, as MariaDB words it (the
// server keeps no slow-query or table counts: they are 0).
func (st Stats) String() string {
	secs := uint64(st.Uptime / time.Second)
	qps := 0.0
	if secs > 0 {
		qps = float64(st.Questions) / float64(secs)
	}
	return fmt.Sprintf("Uptime: %d  Threads: %d  Questions: %d  Slow queries: %d  Opens: %d  Open tables: %d  Queries per second avg: %.3f",
		secs, st.Connections, st.Questions, 0, 0, 0, qps)
}

// Stats returns the server's counters now.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	return Stats{Uptime: time.Since(s.started), Connections: n, Questions: s.questions.Load()}
}

// Kill ends connection id (query false: KILL CONNECTION) or cancels its
// running statement (query true: KILL QUERY) on behalf of by, which may
// only kill connections of its own user, as MariaDB allows users without
// the CONNECTION ADMIN privilege (by nil: no check).
func (s *Server) Kill(by *Conn, id uint32, query bool) error {
	target := s.Conn(id)
	if target == nil {
		return newError(erNoSuchThread, "HY000", "Unknown thread id: %d", id)
	}
	if by != nil && target.User() != by.User() {
		return newError(erKillDenied, "HY000", "You are not owner of thread %d", id)
	}
	if query {
		target.CancelStatement()
	} else {
		target.Close()
	}
	return nil
}

// register numbers c and adds it, unless the server is full or closing.
// Ids count up from 1; after a wrap, ids still in use are skipped.
func (s *Server) register(c *Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		c.id = s.nextID.Add(1)
		if _, used := s.conns[c.id]; c.id != 0 && !used {
			break
		}
	}
	if s.closing.Load() || (s.cfg.MaxConnections > 0 && len(s.conns) >= s.cfg.MaxConnections) {
		return false
	}
	s.conns[c.id] = c
	return true
}

func (s *Server) unregister(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c.id)
	s.mu.Unlock()
}
