package queryrpc

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
)

// maxIdle is how many idle connections a client keeps per tablet.
const maxIdle = 64

// Client calls one tablet. It is safe for concurrent use: each call takes
// a connection of its own from a pool.
type Client struct {
	addr   string
	dialer net.Dialer
	tls    *tls.Config // nil: plain TCP

	mu     sync.Mutex
	idle   []*conn
	closed bool
}

type conn struct {
	net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	buf []byte
}

// ClientOption sets a rarely used property of a Client.
type ClientOption func(*Client)

// WithTLS makes the client speak TLS with cfg. Without a ServerName in
// cfg, the tablet's certificate is checked against the host of addr.
func WithTLS(cfg *tls.Config) ClientOption {
	return func(c *Client) {
		c.tls = cfg.Clone()
		if c.tls.ServerName == "" {
			if host, _, err := net.SplitHostPort(c.addr); err == nil {
				c.tls.ServerName = host
			}
		}
	}
}

// NewClient returns a client of the tablet at addr ("host:port"). No
// connection is made until the first call.
func NewClient(addr string, opts ...ClientOption) *Client {
	c := &Client{addr: addr, dialer: net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Close closes idle connections; connections in use close when their call
// returns.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, cn := range c.idle {
		cn.Close()
	}
	c.idle = nil
}

func (c *Client) get(ctx context.Context) (*conn, error) {
	c.mu.Lock()
	if n := len(c.idle); n > 0 {
		cn := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return cn, nil
	}
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("query rpc client of %s is closed", c.addr)
	}
	nc, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	if c.tls != nil {
		tc := tls.Client(nc, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		nc = tc
	}
	return &conn{Conn: nc, r: bufio.NewReaderSize(nc, 32<<10), w: bufio.NewWriterSize(nc, 32<<10)}, nil
}

func (c *Client) put(cn *conn) {
	if cap(cn.buf) > 1<<20 {
		cn.buf = nil
	}
	c.mu.Lock()
	if c.closed || len(c.idle) >= maxIdle {
		c.mu.Unlock()
		cn.Close()
		return
	}
	c.idle = append(c.idle, cn)
	c.mu.Unlock()
}

// ErrNotSent marks a call that failed before anything reached the tablet
// (no connection could be made): the statement certainly did not run.
var ErrNotSent = errors.New("the call was not sent")

// call sends req and decodes the answer into resp. A MySQL error from the
// tablet is returned as *sqlerror.SQLError, inside a *sqlerr.ReasonError
// when the tablet gave a reason; anything else means the call may not have
// reached the tablet or its answer was lost.
func (c *Client) call(ctx context.Context, m Method, req, resp message) error {
	cn, err := c.get(ctx)
	if err != nil {
		return fmt.Errorf("connect to tablet at %s: %w: %w", c.addr, ErrNotSent, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = cn.SetDeadline(dl)
	} else {
		_ = cn.SetDeadline(time.Time{})
	}
	stop := func() bool { return true }
	if ctx.Done() != nil {
		// Cancellation interrupts the blocked read or write.
		stop = context.AfterFunc(ctx, func() { _ = cn.SetDeadline(time.Unix(1, 0)) })
	}
	tag, payload, err := c.roundTrip(cn, m, req, keepsFrame(resp))
	// A connection whose deadline the cancellation poisoned, or that failed
	// midway, may hold half a frame: never reuse it.
	reusable := stop() && err == nil
	if !reusable {
		cn.Close()
	}
	if err != nil {
		if ctxErr := callContextError(ctx, err); ctxErr != nil {
			err = ctxErr
		}
		return fmt.Errorf("%s to tablet at %s: %w", m, c.addr, err)
	}
	switch tag {
	case outcomeOK:
		if keepsFrame(resp) {
			// The answer's rows alias payload, a buffer of its own.
			err = decodeInPlace(payload, resp)
		} else {
			err = resp.UnmarshalVT(payload)
		}
	case outcomeError:
		me := &querypb.MySQLError{}
		if err = me.UnmarshalVT(payload); err == nil {
			err = sqlerr.FromProto(me)
		}
	default:
		err = fmt.Errorf("%s to tablet at %s: unknown response outcome %d", m, c.addr, tag)
		if reusable {
			cn.Close()
		}
		return err
	}
	if reusable {
		c.put(cn)
	}
	return err
}

// callContextError reports the context's error when it, rather than the
// network, ended a call: the socket deadline mirrors the context's and may
// fire a moment before the context itself is marked done.
func callContextError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if dl, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// roundTrip sends a request and reads the answer's frame, into a buffer of
// its own when owned (the decoded answer keeps it), else into the
// connection's reused buffer.
func (c *Client) roundTrip(cn *conn, m Method, req message, owned bool) (byte, []byte, error) {
	if err := writeFrame(cn.w, byte(m), req); err != nil {
		return 0, nil, err
	}
	if err := cn.w.Flush(); err != nil {
		return 0, nil, err
	}
	if owned {
		tag, payload, _, err := readFrame(cn.r, nil)
		return tag, payload, err
	}
	tag, payload, buf, err := readFrame(cn.r, cn.buf)
	cn.buf = buf
	return tag, payload, err
}

// Execute runs a statement.
func (c *Client) Execute(ctx context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	resp := &querypb.ExecuteResponse{}
	return resp, c.call(ctx, MethodExecute, req, resp)
}

// BeginExecute begins a transaction with its first statement.
func (c *Client) BeginExecute(ctx context.Context, req *querypb.BeginExecuteRequest) (*querypb.BeginExecuteResponse, error) {
	resp := &querypb.BeginExecuteResponse{}
	return resp, c.call(ctx, MethodBeginExecute, req, resp)
}

// Begin begins a transaction.
func (c *Client) Begin(ctx context.Context, req *querypb.BeginRequest) (*querypb.BeginResponse, error) {
	resp := &querypb.BeginResponse{}
	return resp, c.call(ctx, MethodBegin, req, resp)
}

// Commit commits a transaction.
func (c *Client) Commit(ctx context.Context, req *querypb.CommitRequest) (*querypb.CommitResponse, error) {
	resp := &querypb.CommitResponse{}
	return resp, c.call(ctx, MethodCommit, req, resp)
}

// Rollback rolls a transaction back.
func (c *Client) Rollback(ctx context.Context, req *querypb.RollbackRequest) (*querypb.RollbackResponse, error) {
	resp := &querypb.RollbackResponse{}
	return resp, c.call(ctx, MethodRollback, req, resp)
}

// Prepare prepares a transaction begun for two-phase commit.
func (c *Client) Prepare(ctx context.Context, req *querypb.PrepareRequest) (*querypb.PrepareResponse, error) {
	resp := &querypb.PrepareResponse{}
	return resp, c.call(ctx, MethodPrepare, req, resp)
}

// CommitPrepared commits a shard's prepared branch of a distributed
// transaction.
func (c *Client) CommitPrepared(ctx context.Context, req *querypb.CommitPreparedRequest) (*querypb.CommitPreparedResponse, error) {
	resp := &querypb.CommitPreparedResponse{}
	return resp, c.call(ctx, MethodCommitPrepared, req, resp)
}

// RollbackPrepared rolls back a shard's branch of a distributed
// transaction.
func (c *Client) RollbackPrepared(ctx context.Context, req *querypb.RollbackPreparedRequest) (*querypb.RollbackPreparedResponse, error) {
	resp := &querypb.RollbackPreparedResponse{}
	return resp, c.call(ctx, MethodRollbackPrepared, req, resp)
}

// ReserveExecute reserves a connection for one gate session and runs a
// statement on it.
func (c *Client) ReserveExecute(ctx context.Context, req *querypb.ReserveExecuteRequest) (*querypb.ReserveExecuteResponse, error) {
	resp := &querypb.ReserveExecuteResponse{}
	return resp, c.call(ctx, MethodReserveExecute, req, resp)
}

// Release closes a reserved connection.
func (c *Client) Release(ctx context.Context, req *querypb.ReleaseRequest) (*querypb.ReleaseResponse, error) {
	resp := &querypb.ReleaseResponse{}
	return resp, c.call(ctx, MethodRelease, req, resp)
}
