package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/proto/gatepb"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
)

// Error is what a statement's failure at the gate or a shard returns: the
// MySQL error code, SQLSTATE and message, the same the MySQL port sends.
// (It is Vitess's sqlerror.SQLError.)
type Error = sqlerror.SQLError

// Client is a connection to one gate, shared by any number of sessions.
// It is safe for concurrent use. Close it when done.
type Client struct {
	cfg  Config
	conn *grpc.ClientConn
	gate gatepb.GateClient
	// session is the template of new sessions (target, workload, mode).
	session *gatepb.Session
}

// New returns a client of the gate cfg names. It connects lazily: an
// unreachable gate fails the first call, not New.
func New(cfg Config) (*Client, error) {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	template, err := newSessionProto(cfg)
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if cfg.TLS != nil {
		creds = credentials.NewTLS(cfg.TLS)
	}
	user := cfg.User
	if user == "" {
		user = "root"
	}
	if cfg.Password != "" && cfg.TLS == nil && !cfg.AllowCleartextPasswords && !isLoopback(cfg.Address) {
		return nil, fmt.Errorf("shardgate: a password would travel unencrypted to %s: use TLS (tls=true or tlsCA=...) or allowCleartextPasswords=true", cfg.Address)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithPerRPCCredentials(login{user: user, password: cfg.Password}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)),
	}
	if cfg.ConnectTimeout > 0 {
		opts = append(opts, grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.DefaultConfig, MinConnectTimeout: cfg.ConnectTimeout}))
	}
	conn, err := grpc.NewClient(cfg.Address, opts...)
	if err != nil {
		return nil, fmt.Errorf("shardgate at %s: %w", cfg.Address, err)
	}
	return &Client{cfg: cfg, conn: conn, gate: gatepb.NewGateClient(conn), session: template}, nil
}

// Close closes the connection to the gate. Sessions of the client fail
// afterwards.
func (c *Client) Close() error { return c.conn.Close() }

// NewSession returns a new session at the client's target. It costs
// nothing at the gate until its first statement.
func (c *Client) NewSession() *Session {
	return &Session{c: c, pb: proto.Clone(c.session).(*gatepb.Session)}
}

// ResumeSession continues a session saved with Session.Proto: in another
// process, or after a restart of this one. The gate finds the session's
// transaction, if any, on the tablets it names; it fails, naming the
// tablet, when one is gone.
func (c *Client) ResumeSession(saved *gatepb.Session) *Session {
	return &Session{c: c, pb: proto.Clone(saved).(*gatepb.Session)}
}

// login sends the user and password with every call.
type login struct{ user, password string }

func (l login) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"username": l.user, "password": l.password}, nil
}

// RequireTransportSecurity is false: New refuses a password without TLS
// where it matters (a non-loopback address).
func (l login) RequireTransportSecurity() bool { return false }

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var transactionModes = map[string]gatepb.TransactionMode{
	"": gatepb.TransactionMode_MULTI, "multi": gatepb.TransactionMode_MULTI,
	"single": gatepb.TransactionMode_SINGLE, "twopc": gatepb.TransactionMode_TWOPC,
}

// newSessionProto is a new session as cfg describes it.
func newSessionProto(cfg Config) (*gatepb.Session, error) {
	ks, shard, tabletType, err := ParseTarget(cfg.Target)
	if err != nil {
		return nil, err
	}
	mode, ok := transactionModes[cfg.TransactionMode]
	if !ok {
		return nil, fmt.Errorf("shardgate: transaction mode %q: want multi, single or twopc", cfg.TransactionMode)
	}
	workload := cfg.Workload
	if workload == "oltp" {
		workload = ""
	}
	return &gatepb.Session{
		Keyspace: ks, Shard: shard, TabletType: tabletType, Autocommit: true,
		Workload: workload, TransactionMode: mode,
	}, nil
}

// ParseTarget reads "keyspace[:shard][@type]" (type: primary, replica or
// rdonly). The gate checks that the keyspace and shard exist.
func ParseTarget(target string) (keyspace, shard string, tabletType topopb.TabletType, err error) {
	tabletType = topopb.TabletType_PRIMARY
	if base, typ, ok := strings.Cut(target, "@"); ok {
		v, known := topopb.TabletType_value[strings.ToUpper(typ)]
		if !known || v == 0 {
			return "", "", 0, fmt.Errorf("shardgate: target %q: tablet type %q must be primary, replica or rdonly", target, typ)
		}
		target, tabletType = base, topopb.TabletType(v)
	}
	keyspace, shard, _ = strings.Cut(target, ":")
	if keyspace == "" && shard != "" {
		return "", "", 0, fmt.Errorf("shardgate: target %q names a shard without a keyspace", target)
	}
	return keyspace, shard, tabletType, nil
}

// Session is a line of statements sharing session state, like one MySQL
// connection: the target, transaction, session variables. It is not safe
// for concurrent use.
type Session struct {
	c  *Client
	pb *gatepb.Session
}

// Proto returns a copy of the session as the gate last returned it.
func (s *Session) Proto() *gatepb.Session { return proto.Clone(s.pb).(*gatepb.Session) }

// InTransaction reports whether the session is in a transaction.
func (s *Session) InTransaction() bool { return s.pb.InTransaction }

// deadline applies the client's query timeout to a context without one.
func (s *Session) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || s.c.cfg.QueryTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.c.cfg.QueryTimeout)
}

// Execute runs one statement and returns its whole result. bindVars (may
// be nil) are the values of its placeholders: "?" are v1, v2, ... in
// order; ":name" is name.
func (s *Session) Execute(ctx context.Context, sql string, bindVars map[string]*vquerypb.BindVariable) (*sqltypes.Result, error) {
	query, err := queryProto(sql, bindVars)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	resp, err := s.c.gate.Execute(ctx, &gatepb.ExecuteRequest{Session: s.pb, Query: query})
	if err != nil {
		return nil, s.c.callError(ctx, err)
	}
	if resp.Session != nil {
		s.pb = resp.Session
	}
	if resp.Error != nil {
		return nil, mysqlError(resp.Error)
	}
	return queryconv.ResultFromProto(resp.Result)
}

// BatchResult is the answer to one query of ExecuteBatch: a result or an
// error.
type BatchResult struct {
	Result *sqltypes.Result
	Err    error
}

// BatchQuery is one query of ExecuteBatch.
type BatchQuery struct {
	SQL      string
	BindVars map[string]*vquerypb.BindVariable
}

// ExecuteBatch runs the queries in order in one call; a failed query does
// not stop the ones after it. The error is the call's own (the gate could
// not be reached), not a query's.
func (s *Session) ExecuteBatch(ctx context.Context, queries []BatchQuery) ([]BatchResult, error) {
	req := &gatepb.ExecuteBatchRequest{Session: s.pb, Queries: make([]*gatepb.Query, len(queries))}
	for i, q := range queries {
		var err error
		if req.Queries[i], err = queryProto(q.SQL, q.BindVars); err != nil {
			return nil, err
		}
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	resp, err := s.c.gate.ExecuteBatch(ctx, req)
	if err != nil {
		return nil, s.c.callError(ctx, err)
	}
	if resp.Session != nil {
		s.pb = resp.Session
	}
	if len(resp.Results) != len(queries) {
		return nil, fmt.Errorf("shardgate: %d answers to a batch of %d queries", len(resp.Results), len(queries))
	}
	out := make([]BatchResult, len(queries))
	for i, r := range resp.Results {
		if r.Error != nil {
			out[i].Err = mysqlError(r.Error)
			continue
		}
		out[i].Result, out[i].Err = queryconv.ResultFromProto(r.Result)
	}
	return out, nil
}

// StreamExecute runs one statement and returns its result as a stream:
// the gate sends rows as the shards produce them (in OLAP sessions) or in
// batches of a result it combined, and the client holds one batch at a
// time. It returns once the fields (or the statement's error) arrived.
// Close the stream when done; closing it early, or cancelling ctx, stops
// the statement on the gate and on every shard.
func (s *Session) StreamExecute(ctx context.Context, sql string, bindVars map[string]*vquerypb.BindVariable) (*ResultStream, error) {
	query, err := queryProto(sql, bindVars)
	if err != nil {
		return nil, err
	}
	callCtx, cancel := s.deadline(ctx)
	stream, err := s.c.gate.StreamExecute(callCtx, &gatepb.StreamExecuteRequest{Session: s.pb, Query: query})
	if err != nil {
		cancel()
		return nil, s.c.callError(callCtx, err)
	}
	rs := &ResultStream{s: s, ctx: callCtx, stream: stream, cancel: cancel}
	first, err := rs.recv()
	if err != nil {
		rs.Close()
		return nil, err
	}
	rs.first = first
	return rs, nil
}

// ResultStream is a statement's result arriving in batches.
type ResultStream struct {
	s      *Session
	ctx    context.Context
	stream grpc.ServerStreamingClient[gatepb.StreamExecuteResponse]
	cancel context.CancelFunc

	fields []*vquerypb.Field
	first  *sqltypes.Result // the first batch, read by StreamExecute
	result sqltypes.Result  // counts: rows affected, insert id, info
	done   bool
	err    error
}

// Fields returns the result's columns (none for a statement that returns
// no rows).
func (rs *ResultStream) Fields() []*vquerypb.Field { return rs.fields }

// RowsAffected, InsertID and Info are known once Recv returned io.EOF.
func (rs *ResultStream) RowsAffected() uint64 { return rs.result.RowsAffected }

// InsertID is the first AUTO_INCREMENT value a write made.
func (rs *ResultStream) InsertID() uint64 { return rs.result.InsertID }

// Recv returns the next batch of rows (the first also holds the fields),
// or io.EOF after the last, or the statement's error.
func (rs *ResultStream) Recv() (*sqltypes.Result, error) {
	if rs.first != nil {
		r := rs.first
		rs.first = nil
		return r, nil
	}
	return rs.recv()
}

func (rs *ResultStream) recv() (*sqltypes.Result, error) {
	if rs.err != nil {
		return nil, rs.err
	}
	if rs.done {
		return nil, io.EOF
	}
	msg, err := rs.stream.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			rs.done = true
			rs.cancel()
			return nil, io.EOF
		}
		rs.err = rs.s.c.callError(rs.ctx, err)
		rs.cancel()
		return nil, rs.err
	}
	if msg.Session != nil {
		rs.s.pb = msg.Session
	}
	if msg.Error != nil {
		rs.err = mysqlError(msg.Error)
		rs.cancel()
		return nil, rs.err
	}
	r := msg.Result
	res := &sqltypes.Result{}
	if len(r.GetFields()) > 0 && rs.fields == nil {
		rs.fields = queryconv.FieldsFromProto(r.Fields)
		res.Fields = rs.fields
	}
	if res.Rows, err = queryconv.RowsFromProto(rs.fields, r.GetRows()); err != nil {
		rs.err = fmt.Errorf("shardgate: %w", err)
		rs.cancel()
		return nil, rs.err
	}
	if r.GetRowsAffected() != 0 {
		rs.result.RowsAffected = r.RowsAffected
	}
	if r.GetInsertId() != 0 {
		rs.result.InsertID = r.InsertId
	}
	if len(r.GetInfo()) > 0 {
		rs.result.Info = string(r.Info)
	}
	return res, nil
}

// Close ends the stream; a statement still running stops, on every shard.
func (rs *ResultStream) Close() {
	rs.cancel()
	if !rs.done && rs.err == nil {
		rs.err = errors.New("shardgate: result stream closed")
	}
}

// queryProto builds a query with its parameters.
func queryProto(sql string, bindVars map[string]*vquerypb.BindVariable) (*gatepb.Query, error) {
	q := &gatepb.Query{Sql: []byte(sql)}
	if len(bindVars) == 0 {
		return q, nil
	}
	q.BindVariables = make(map[string]*gatepb.BindVariable, len(bindVars))
	for name, bv := range bindVars {
		if bv == nil {
			return nil, fmt.Errorf("shardgate: parameter %s is nil", name)
		}
		out := &gatepb.BindVariable{Type: querypb.Type(bv.Type), Value: bv.Value}
		for _, v := range bv.Values {
			out.Values = append(out.Values, &gatepb.Value{Type: querypb.Type(v.Type), Value: v.Value})
		}
		q.BindVariables[name] = out
	}
	return q, nil
}

// mysqlError is a MySQL error the gate sent.
func mysqlError(e *querypb.MySQLError) error {
	return sqlerror.NewSQLError(sqlerror.ErrorCode(e.Code), e.SqlState, string(e.Message))
}

// callError classifies a failed call: the context's own end, a MySQL
// error carried as a status (access denied), or the gate unreachable.
func (c *Client) callError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if code := status.Code(err); code == codes.Canceled || code == codes.DeadlineExceeded {
			return ctxErr
		}
	}
	if me := queryconv.ErrorFromStatus(err); me != err {
		return me
	}
	return fmt.Errorf("shardgate at %s: %w", c.cfg.Address, err)
}
