package queryrpc

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
)

// Handler serves the calls. Errors it returns reach the caller as MySQL
// errors (see sqlerr.From).
type Handler interface {
	Execute(ctx context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error)
	BeginExecute(ctx context.Context, req *querypb.BeginExecuteRequest) (*querypb.BeginExecuteResponse, error)
	Begin(ctx context.Context, req *querypb.BeginRequest) (*querypb.BeginResponse, error)
	Commit(ctx context.Context, req *querypb.CommitRequest) (*querypb.CommitResponse, error)
	Rollback(ctx context.Context, req *querypb.RollbackRequest) (*querypb.RollbackResponse, error)
	Prepare(ctx context.Context, req *querypb.PrepareRequest) (*querypb.PrepareResponse, error)
	CommitPrepared(ctx context.Context, req *querypb.CommitPreparedRequest) (*querypb.CommitPreparedResponse, error)
	RollbackPrepared(ctx context.Context, req *querypb.RollbackPreparedRequest) (*querypb.RollbackPreparedResponse, error)
	ReserveExecute(ctx context.Context, req *querypb.ReserveExecuteRequest) (*querypb.ReserveExecuteResponse, error)
	Release(ctx context.Context, req *querypb.ReleaseRequest) (*querypb.ReleaseResponse, error)
}

// Server serves a Handler on a listener.
type Server struct {
	handler Handler
	log     *zap.Logger
	// ctx ends every call in progress when the server closes.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewServer returns a server for h.
func NewServer(h Handler, log *zap.Logger) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{handler: h, log: log, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
}

// Serve accepts connections until ln is closed (by Close).
func (s *Server) Serve(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// Close closes every connection, cancels the calls in progress and waits
// for them to return.
func (s *Server) Close() {
	s.cancel()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	// A caller that gives up closes its connection. The connection is
	// watched while a call runs (peerWatch), and ctx, which every call on
	// it runs under, ends when the caller is gone or the server closes: the
	// statement is then killed on MySQL.
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	r := bufio.NewReaderSize(c, 32<<10)
	w := bufio.NewWriterSize(c, 32<<10)
	watch := newPeerWatch(c, r, cancel)
	var buf []byte
	for {
		tag, payload, nbuf, err := readFrame(r, buf)
		buf = nbuf
		if err != nil {
			return // peer closed or sent garbage: end this connection only
		}
		watch.start()
		resp, err := s.dispatch(ctx, Method(tag), payload)
		watch.stop()
		if err != nil {
			err = writeFrame(w, outcomeError, sqlerr.ToProto(err))
		} else {
			err = writeFrame(w, outcomeOK, resp)
		}
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			s.log.Debug("query rpc connection write failed", zap.Error(err))
			return
		}
		if cap(buf) > 1<<20 {
			buf = nil // do not pin a large request's buffer to an idle connection
		}
	}
}

// watchAfter is how long a call runs before the server starts watching its
// connection for the caller going away. Most calls end sooner and cost no
// watching at all.
const watchAfter = 50 * time.Millisecond

// peerWatch notices, while a call runs, that the caller closed its
// connection. Callers send nothing while they wait for an answer, so any
// outcome of a read other than the timeout stop sets means the caller is
// gone (or broke the protocol): the connection's context is cancelled.
type peerWatch struct {
	c      net.Conn
	r      *bufio.Reader
	cancel context.CancelFunc
	tick   *time.Timer

	mu       sync.Mutex
	running  bool // a call runs
	watching bool // watch reads the connection
	done     chan struct{}
}

func newPeerWatch(c net.Conn, r *bufio.Reader, cancel context.CancelFunc) *peerWatch {
	w := &peerWatch{c: c, r: r, cancel: cancel}
	w.tick = time.AfterFunc(time.Hour, w.watch)
	w.tick.Stop()
	return w
}

// start watches the connection from watchAfter on, until stop.
func (w *peerWatch) start() {
	w.mu.Lock()
	w.running = true
	w.mu.Unlock()
	w.tick.Reset(watchAfter)
}

func (w *peerWatch) watch() {
	w.mu.Lock()
	if !w.running || w.watching {
		// The call ended first, or a late timer of an earlier call
		// already watches this one.
		w.mu.Unlock()
		return
	}
	w.watching = true
	w.done = make(chan struct{})
	done := w.done
	w.mu.Unlock()
	defer close(done)
	// Peek leaves whatever arrives in the reader for the next frame.
	if _, err := w.r.Peek(1); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		w.cancel()
	}
}

// stop ends watching; once it returns the reader is the serving loop's
// again.
func (w *peerWatch) stop() {
	w.tick.Stop()
	w.mu.Lock()
	watching, done := w.watching, w.done
	w.running, w.watching = false, false
	w.mu.Unlock()
	if watching {
		// Wake the blocked read, wait for it, and clear the deadline.
		_ = w.c.SetReadDeadline(time.Unix(1, 0))
		<-done
		_ = w.c.SetReadDeadline(time.Time{})
	}
}

// dispatch decodes a request and calls the handler. Requests are copied
// out of the frame (UnmarshalVT): the connection reuses its buffer, and
// the handler may keep what a request holds (a dtid, an owner).
func (s *Server) dispatch(ctx context.Context, m Method, payload []byte) (message, error) {
	switch m {
	case MethodExecute:
		req := &querypb.ExecuteRequest{}
		if err := req.UnmarshalVT(payload); err != nil {
			return nil, sqlerr.Internal("malformed Execute request: %v", err)
		}
		return s.handler.Execute(ctx, req)
	case MethodBeginExecute:
		req := &querypb.BeginExecuteRequest{}
		if err := req.UnmarshalVT(payload); err != nil {
			return nil, sqlerr.Internal("malformed BeginExecute request: %v", err)
		}
		return s.handler.BeginExecute(ctx, req)
	case MethodBegin:
		req := &querypb.BeginRequest{}
		if err := req.UnmarshalVT(payload); err != nil {
			return nil, sqlerr.Internal("malformed Begin request: %v", err)
		}
		return s.handler.Begin(ctx, req)
	case MethodCommit:
		req := &querypb.CommitRequest{}
		if err := req.UnmarshalVT(payload); err != nil {
			return nil, sqlerr.Internal("malformed Commit request: %v", err)
		}
		return s.handler.Commit(ctx, req)
	case MethodRollback:
		req := &querypb.RollbackRequest{}
		if err := req.UnmarshalVT(payload); err != nil {
			return nil, sqlerr.Internal("malformed Rollback request: %v", err)
		}
		return s.handler.Rollback(ctx, req)
	case MethodPrepare:
		req := &querypb.PrepareRequest{}
		if err := req.UnmarshalVT(payload); err != nil {
			return nil, sqlerr.Internal("malformed Prepare request: %v", err)
		}
		return s.handler.Prepare(ctx, req)
	case MethodCommitPrepared:
		req := &querypb.CommitPreparedRequest{}
		if err := req.UnmarshalVT(payload); err != nil {
			return nil, sqlerr.Internal("malformed CommitPrepared request: %v", err)
		}
		return s.handler.CommitPrepared(ctx, req)
	case MethodRollbackPrepared:
		req := &querypb.RollbackPreparedRequest{}
		if err := req.UnmarshalVT(payload); err != nil {
			return nil, sqlerr.Internal("malformed RollbackPrepared request: %v", err)
		}
		return s.handler.RollbackPrepared(ctx, req)
	case MethodReserveExecute:
		req := &querypb.ReserveExecuteRequest{}
		if err := req.UnmarshalVT(payload); err != nil {
			return nil, sqlerr.Internal("malformed ReserveExecute request: %v", err)
		}
		return s.handler.ReserveExecute(ctx, req)
	case MethodRelease:
		req := &querypb.ReleaseRequest{}
		if err := req.UnmarshalVT(payload); err != nil {
			return nil, sqlerr.Internal("malformed Release request: %v", err)
		}
		return s.handler.Release(ctx, req)
	}
	return nil, sqlerr.Internal("unknown query rpc method %d", byte(m))
}
