package queryrpc

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

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
	// The connection is not read while a call runs, so a gate that gives up
	// is noticed only afterwards; the tablet's statement timeout bounds the
	// call meanwhile. ctx ends the calls when the connection ends.
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	r := bufio.NewReaderSize(c, 32<<10)
	w := bufio.NewWriterSize(c, 32<<10)
	var buf []byte
	for {
		tag, payload, nbuf, err := readFrame(r, buf)
		buf = nbuf
		if err != nil {
			return // peer closed or sent garbage: end this connection only
		}
		resp, err := s.dispatch(ctx, Method(tag), payload)
		if err != nil {
			se := sqlerr.From(err)
			err = writeFrame(w, outcomeError, &querypb.MySQLError{Code: uint32(se.Num), SqlState: se.State, Message: []byte(se.Message)})
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

func (s *Server) dispatch(ctx context.Context, m Method, payload []byte) (proto.Message, error) {
	switch m {
	case MethodExecute:
		req := &querypb.ExecuteRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return nil, sqlerr.Internal("malformed Execute request: %v", err)
		}
		return s.handler.Execute(ctx, req)
	case MethodBeginExecute:
		req := &querypb.BeginExecuteRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return nil, sqlerr.Internal("malformed BeginExecute request: %v", err)
		}
		return s.handler.BeginExecute(ctx, req)
	case MethodBegin:
		req := &querypb.BeginRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return nil, sqlerr.Internal("malformed Begin request: %v", err)
		}
		return s.handler.Begin(ctx, req)
	case MethodCommit:
		req := &querypb.CommitRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return nil, sqlerr.Internal("malformed Commit request: %v", err)
		}
		return s.handler.Commit(ctx, req)
	case MethodRollback:
		req := &querypb.RollbackRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return nil, sqlerr.Internal("malformed Rollback request: %v", err)
		}
		return s.handler.Rollback(ctx, req)
	case MethodPrepare:
		req := &querypb.PrepareRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return nil, sqlerr.Internal("malformed Prepare request: %v", err)
		}
		return s.handler.Prepare(ctx, req)
	case MethodCommitPrepared:
		req := &querypb.CommitPreparedRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return nil, sqlerr.Internal("malformed CommitPrepared request: %v", err)
		}
		return s.handler.CommitPrepared(ctx, req)
	case MethodRollbackPrepared:
		req := &querypb.RollbackPreparedRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return nil, sqlerr.Internal("malformed RollbackPrepared request: %v", err)
		}
		return s.handler.RollbackPrepared(ctx, req)
	}
	return nil, sqlerr.Internal("unknown query rpc method %d", byte(m))
}
