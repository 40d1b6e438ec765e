// Package connpool keeps a bounded set of connections to one MySQL server.
//
// A Pool never holds more than its capacity of connections, idle or in use;
// Get waits (bounded by its context) when all are in use. Connections are
// opened lazily and a connection that saw a network error is closed rather
// than returned, so a restarted mysqld costs at most one failed query per
// pooled connection.
package connpool

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/sqlerror"
)

// Conn is a pooled MySQL connection. It is used by one goroutine at a time.
type Conn struct {
	*mysql.Conn
	pool *Pool
	// broken marks a connection that must not be reused: a network error,
	// or a kill that may still land on its next statement.
	broken bool
}

// MarkBroken makes Put close the connection instead of reusing it.
func (c *Conn) MarkBroken() { c.broken = true }

// Broken reports whether the connection was marked broken: a kill may
// still land on it, or it failed (and MariaDB closes it after such
// errors, rolling back what it held).
func (c *Conn) Broken() bool { return c.broken }

// Stats are a pool's counters, for metrics.
type Stats struct {
	Capacity  int
	InUse     int64
	Idle      int
	Waits     int64
	WaitTime  time.Duration
	Opened    int64
	OpenFails int64
	// ClosedDead counts idle connections the server had closed, found
	// before reuse and replaced.
	ClosedDead int64
}

// Pool is safe for concurrent use.
type Pool struct {
	name   string
	params *mysql.ConnParams
	// tokens holds one token per connection that may exist; taking one is
	// the right to hold a connection.
	tokens chan struct{}
	idle   chan *Conn

	inUse     atomic.Int64
	waits     atomic.Int64
	waitNanos atomic.Int64
	opened    atomic.Int64
	openFails atomic.Int64
	// closedDead counts idle connections found closed by the server.
	closedDead atomic.Int64
	closed     atomic.Bool
	// setup runs on every new connection before its first use, then
	// check (when set), whose error closes the connection.
	setup []string
	check func(*mysql.Conn) error
}

// ErrClosed is Get's and TryGet's answer once the pool is closed.
var ErrClosed = errors.New("the pool is closed")

// CheckNew makes every new connection pass check before its first use
// (that it reached the server meant, say). Call it before the pool is used.
func (p *Pool) CheckNew(check func(*mysql.Conn) error) *Pool {
	p.check = check
	return p
}

// New returns a pool of at most capacity connections made with params.
// Each new connection runs the setup statements (session settings such
// as "SET autocommit = 0") before it is first handed out.
func New(name string, params *mysql.ConnParams, capacity int, setup ...string) *Pool {
	if capacity < 1 {
		capacity = 1
	}
	p := &Pool{
		name:   name,
		params: params,
		tokens: make(chan struct{}, capacity),
		idle:   make(chan *Conn, capacity),
		setup:  setup,
	}
	for range capacity {
		p.tokens <- struct{}{}
	}
	return p
}

// Get returns a connection, opening one if no idle one is ready. It waits
// for a free slot until ctx ends.
func (p *Pool) Get(ctx context.Context) (*Conn, error) {
	if p.closed.Load() {
		return nil, fmt.Errorf("%s pool: %w", p.name, ErrClosed)
	}
	select {
	case <-p.tokens:
	default:
		start := time.Now()
		p.waits.Add(1)
		select {
		case <-p.tokens:
			p.waitNanos.Add(int64(time.Since(start)))
		case <-ctx.Done():
			p.waitNanos.Add(int64(time.Since(start)))
			return nil, fmt.Errorf("waiting for a connection from the %s pool (all %d in use): %w", p.name, cap(p.tokens), ctx.Err())
		}
	}
	return p.take(ctx)
}

// ErrBusy is TryGet's answer when every connection is in use.
var ErrBusy = errors.New("every connection of the pool is in use")

// TryGet is Get without the wait: when every connection is in use it
// returns ErrBusy at once, for a caller with another way to run its
// statement.
func (p *Pool) TryGet(ctx context.Context) (*Conn, error) {
	if p.closed.Load() {
		return nil, fmt.Errorf("%s pool: %w", p.name, ErrClosed)
	}
	select {
	case <-p.tokens:
	default:
		return nil, ErrBusy
	}
	return p.take(ctx)
}

// take returns an idle connection or opens one, for a caller holding a
// token.
func (p *Pool) take(ctx context.Context) (*Conn, error) {
	p.inUse.Add(1)
	for {
		select {
		case c := <-p.idle:
			if alive(c.Conn) {
				return c, nil
			}
			p.closedDead.Add(1)
			c.Conn.Close()
			continue
		default:
		}
		break
	}
	conn, err := mysql.Connect(ctx, p.params)
	if err != nil {
		p.openFails.Add(1)
		p.release()
		return nil, fmt.Errorf("connect to mysqld for the %s pool: %w", p.name, err)
	}
	for _, stmt := range p.setup {
		if _, err := conn.ExecuteFetch(stmt, 0, false); err != nil {
			conn.Close()
			p.openFails.Add(1)
			p.release()
			return nil, fmt.Errorf("set up a new connection of the %s pool (%s): %w", p.name, stmt, err)
		}
	}
	if p.check != nil {
		if err := p.check(conn); err != nil {
			conn.Close()
			p.openFails.Add(1)
			p.release()
			return nil, fmt.Errorf("new connection of the %s pool: %w", p.name, err)
		}
	}
	p.opened.Add(1)
	return &Conn{Conn: conn, pool: p}, nil
}

// Put returns a connection taken with Get. A connection that saw a
// connection-level error, or was marked broken, is closed instead.
func (p *Pool) Put(c *Conn) {
	if c.broken || c.IsClosed() || p.closed.Load() {
		c.Close()
	} else {
		// Never blocks: there are never more connections than slots.
		p.idle <- c
	}
	p.release()
}

func (p *Pool) release() {
	p.inUse.Add(-1)
	p.tokens <- struct{}{}
}

// NoteError marks c broken when err means the connection itself failed.
func NoteError(c *Conn, err error) {
	if err != nil && (sqlerror.IsConnErr(err) || serverClosesAfter(err)) {
		c.broken = true
	}
}

// serverClosesAfter recognizes the errors after which MariaDB closes the
// connection itself (a packet larger than max_allowed_packet, a read or
// write on the network failing or timing out): the connection must not
// go back to the pool, or the next statement on it fails with 2006.
func serverClosesAfter(err error) bool {
	var se *sqlerror.SQLError
	if !errors.As(err, &se) {
		return false
	}
	// MariaDB's ER_NET_* errors: 1152 (aborted) to 1161 (write
	// interrupted), 1153 being ER_NET_PACKET_TOO_LARGE.
	return se.Num >= 1152 && se.Num <= 1161
}

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	return Stats{
		Capacity:   cap(p.tokens),
		InUse:      p.inUse.Load(),
		Idle:       len(p.idle),
		Waits:      p.waits.Load(),
		WaitTime:   time.Duration(p.waitNanos.Load()),
		Opened:     p.opened.Load(),
		OpenFails:  p.openFails.Load(),
		ClosedDead: p.closedDead.Load(),
	}
}

// Close closes the idle connections; connections in use are closed when
// they are put back.
func (p *Pool) Close() {
	p.closed.Store(true)
	for {
		select {
		case c := <-p.idle:
			c.Close()
		default:
			return
		}
	}
}
