package gateway

import (
	"context"
	"net"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"

	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/gatepb"
	"github.com/shardgate/shardgate/proto/querypb"
)

// grpcHandler serves the Gate gRPC API (proto/gate.proto) with the same
// Executor the MySQL listener uses: a statement is parsed, planned and run
// the same way whichever door it came in by. The gate keeps nothing
// between calls: each call brings its Session, which becomes the same
// Session a MySQL connection keeps (session_proto.go), and the answer
// carries it back as the statement left it.
type grpcHandler struct {
	gatepb.UnimplementedGateServer
	executor *Executor
	auth     *Authenticator
	log      *zap.Logger
	metrics  *metrics
}

// Metadata keys a caller authenticates with.
const (
	MetadataUser     = "username"
	MetadataPassword = "password"
)

// streamChunkBytes bounds the row bytes of one streamed message.
const streamChunkBytes = 256 << 10

// rollbackTimeout bounds rolling back what a call whose caller went away
// began.
const rollbackTimeout = 10 * time.Second

// authenticate checks the caller's user and password against the users
// the MySQL port accepts.
func (h *grpcHandler) authenticate(ctx context.Context) (string, error) {
	var user, password string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(MetadataUser); len(v) > 0 {
			user = v[0]
		}
		if v := md.Get(MetadataPassword); len(v) > 0 {
			password = v[0]
		}
	}
	var addr net.Addr
	if p, ok := peer.FromContext(ctx); ok {
		addr = p.Addr
	}
	if err := h.auth.CheckPassword(ctx, user, password, addr); err != nil {
		return "", queryconv.ErrorToStatus(err)
	}
	return user, nil
}

// peerAddr is the address of the caller, for the slow query log.
func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// guard turns a panic in a call into an error for that call only.
func (h *grpcHandler) guard(sql []byte, err *error) {
	if r := recover(); r != nil {
		h.log.Error("panic while handling a gRPC statement", zap.String("query", truncate(string(sql), 1000)),
			zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		*err = sqlerr.Internal("internal error in Shardgate while handling this statement (logged on the gate): %v", r)
	}
}

// mysqlError is what a client sees of err.
func mysqlError(err error) *querypb.MySQLError {
	se := sqlerr.From(err)
	return &querypb.MySQLError{Code: uint32(se.Num), SqlState: se.State, Message: []byte(se.Message)}
}

// run executes one query in s, guarded.
func (h *grpcHandler) run(ctx context.Context, s *Session, q *gatepb.Query, stream func(*sqltypes.Result) error) (res *sqltypes.Result, err error) {
	defer h.guard(q.GetSql(), &err)
	bv, err := queryconv.BindVariablesFromProto(q.GetBindVariables())
	if err != nil {
		return nil, sqlerr.New(sqlerror.ERWrongArguments, sqlerror.SSUnknownSQLState, "Incorrect arguments to the statement: %v", err)
	}
	sql := string(q.GetSql())
	if stream == nil {
		return h.executor.Execute(ctx, s, sql, bv)
	}
	return nil, h.executor.StreamExecute(ctx, s, sql, bv, stream)
}

// rollbackUnreported rolls back the shard transactions a call began when
// its answer cannot reach the caller (it went away, or its deadline
// passed): the caller's session does not know them, so nothing else
// would end them before the tablets' idle timeout.
func (h *grpcHandler) rollbackUnreported(ctx context.Context, s *Session, reported []*shardSession) {
	joined := joinedSince(reported, s)
	if len(joined) == 0 {
		return
	}
	for _, ss := range joined {
		h.executor.removeShard(s, ss)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	h.executor.rollbackShards(rctx, joined)
}

// Execute implements gatepb.GateServer.
func (h *grpcHandler) Execute(ctx context.Context, req *gatepb.ExecuteRequest) (*gatepb.ExecuteResponse, error) {
	h.metrics.grpcCalls.WithLabelValues("Execute").Inc()
	user, err := h.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	s, err := h.executor.sessionFromProto(req.Session, user)
	if err == nil {
		s.ClientAddr = peerAddr(ctx)
	}
	if err != nil {
		return &gatepb.ExecuteResponse{Session: req.Session, Error: mysqlError(err)}, nil
	}
	h.executor.callBegins(s)
	defer h.executor.callEnds(s)
	before := s.shardList()
	res, err := h.run(ctx, s, req.Query, nil)
	if ctx.Err() != nil {
		h.rollbackUnreported(ctx, s, before)
	}
	resp := &gatepb.ExecuteResponse{Session: h.executor.issueSession(s)}
	if err != nil {
		resp.Error = mysqlError(err)
	} else {
		resp.Result = queryconv.ResultToProto(res)
	}
	return resp, nil
}

// ExecuteBatch implements gatepb.GateServer.
func (h *grpcHandler) ExecuteBatch(ctx context.Context, req *gatepb.ExecuteBatchRequest) (*gatepb.ExecuteBatchResponse, error) {
	h.metrics.grpcCalls.WithLabelValues("ExecuteBatch").Inc()
	user, err := h.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	s, err := h.executor.sessionFromProto(req.Session, user)
	if err == nil {
		s.ClientAddr = peerAddr(ctx)
	}
	if err != nil {
		resp := &gatepb.ExecuteBatchResponse{Session: req.Session, Results: make([]*gatepb.QueryResponse, len(req.Queries))}
		for i := range resp.Results {
			resp.Results[i] = &gatepb.QueryResponse{Error: mysqlError(err)}
		}
		return resp, nil
	}
	h.executor.callBegins(s)
	defer h.executor.callEnds(s)
	before := s.shardList()
	resp := &gatepb.ExecuteBatchResponse{Results: make([]*gatepb.QueryResponse, len(req.Queries))}
	for i, q := range req.Queries {
		res, err := h.run(ctx, s, q, nil)
		if err != nil {
			resp.Results[i] = &gatepb.QueryResponse{Error: mysqlError(err)}
		} else {
			resp.Results[i] = &gatepb.QueryResponse{Result: queryconv.ResultToProto(res)}
		}
	}
	if ctx.Err() != nil {
		h.rollbackUnreported(ctx, s, before)
	}
	resp.Session = h.executor.issueSession(s)
	return resp, nil
}

// StreamExecute implements gatepb.GateServer. Each message is held back
// until the next one is ready, so that the last one (which may be the
// only one) carries the final session; the first carries the session too.
func (h *grpcHandler) StreamExecute(req *gatepb.StreamExecuteRequest, stream grpc.ServerStreamingServer[gatepb.StreamExecuteResponse]) error {
	h.metrics.grpcCalls.WithLabelValues("StreamExecute").Inc()
	ctx := stream.Context()
	user, err := h.authenticate(ctx)
	if err != nil {
		return err
	}
	s, err := h.executor.sessionFromProto(req.Session, user)
	if err == nil {
		s.ClientAddr = peerAddr(ctx)
	}
	if err != nil {
		return stream.Send(&gatepb.StreamExecuteResponse{Session: req.Session, Error: mysqlError(err)})
	}
	h.executor.callBegins(s)
	defer h.executor.callEnds(s)
	reported := s.shardList()
	var pending *gatepb.StreamExecuteResponse
	var pendingShards []*shardSession // the shards pending's session names
	flush := func() error {
		if pending == nil {
			return nil
		}
		if err := stream.Send(pending); err != nil {
			return err
		}
		if pending.Session != nil {
			reported = pendingShards
		}
		pending = nil
		return nil
	}
	first := true
	_, err = h.run(ctx, s, req.Query, func(r *sqltypes.Result) error {
		for _, msg := range chunkResult(r) {
			if err := flush(); err != nil {
				return err
			}
			pending = msg
			if first {
				first = false
				pending.Session, pendingShards = h.executor.issueSession(s), s.shardList()
			}
		}
		return nil
	})
	if err != nil {
		if ferr := flush(); ferr != nil {
			h.rollbackUnreported(ctx, s, reported)
			return nil
		}
		pending = &gatepb.StreamExecuteResponse{Error: mysqlError(err)}
	} else if pending == nil {
		pending = &gatepb.StreamExecuteResponse{Result: &querypb.QueryResult{}}
	}
	pending.Session, pendingShards = h.executor.issueSession(s), s.shardList()
	if err := flush(); err != nil || ctx.Err() != nil {
		// The last message did not reach the caller: it knows the shards
		// of the last session it received only.
		h.rollbackUnreported(ctx, s, reported)
	}
	return nil
}

// chunkResult splits a result into messages of at most streamChunkBytes of
// rows (at least one row each); the first carries the fields and the
// result's counts.
func chunkResult(r *sqltypes.Result) []*gatepb.StreamExecuteResponse {
	head := &querypb.QueryResult{
		Fields: queryconv.FieldsToProto(r.Fields), RowsAffected: r.RowsAffected, InsertId: r.InsertID, Info: []byte(r.Info),
	}
	out := []*gatepb.StreamExecuteResponse{{Result: head}}
	cur, size, start := head, 0, 0
	for i, row := range r.Rows {
		for _, v := range row {
			size += v.Len() + 2
		}
		if size >= streamChunkBytes || i == len(r.Rows)-1 {
			cur.Rows = queryconv.RowsToProto(r.Rows[start : i+1])
			start, size = i+1, 0
			if i < len(r.Rows)-1 {
				cur = &querypb.QueryResult{}
				out = append(out, &gatepb.StreamExecuteResponse{Result: cur})
			}
		}
	}
	return out
}
