// Package tabletclient is how every other process reaches a tablet: the
// gate (statements, transactions, health), the control plane (schema,
// resharding, backups, two-phase commit resolution) and the resharding
// streams a tablet runs against other tablets. All of them dial here, so
// that TLS and message limits are the same everywhere.
//
// The contract:
//
//   - Dial makes one Conn per tablet record. It connects lazily: the
//     first call connects, and a tablet that is down makes calls fail,
//     not Dial.
//   - A Conn carries the tablet's gRPC services (QueryService,
//     Replication, BackupService) over one gRPC client connection, and
//     its unary query calls (Unary) over the framed query port
//     (internal/queryrpc) when the record has one, over gRPC otherwise.
//     Both use the TLS configuration given with WithTLS (none: plain
//     TCP), and the tablet's certificate is checked against the record's
//     hostname.
//   - Messages of up to MaxMessageBytes pass either way on both
//     transports (gRPC's own default, 4 MiB, is too small for a large
//     result or a multi-row INSERT).
//   - A Conn and the clients it hands out are safe for concurrent use;
//     the query port pools its connections (one call per connection at a
//     time), gRPC multiplexes its calls.
//   - The caller owns the Conn and must Close it; Close ends the calls
//     in progress on gRPC and closes idle query-port connections (a call
//     in progress there closes its connection when it returns).
//   - Errors: a MySQL error from the tablet arrives as a gRPC status
//     whose detail queryconv.ErrorFromStatus recovers (gRPC calls), or as
//     the *sqlerror.SQLError itself (query-port calls); either way with
//     the tablet's reason (sqlerr.ReasonOf). Anything else means the
//     tablet was not reached or its answer was lost.
package tabletclient

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shardgate/shardgate/internal/grpcbackoff"
	"github.com/shardgate/shardgate/internal/queryrpc"
	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/replicationpb"
	"github.com/shardgate/shardgate/proto/topopb"
)

// MaxMessageBytes bounds one message either way: a result, a batch of
// streamed rows, a multi-row INSERT. The tablet accepts requests as large
// (and queryrpc frames are bounded the same).
const MaxMessageBytes = 256 << 20

// Option sets a rarely changed property of a Conn.
type Option func(*options)

type options struct {
	tls *tls.Config
}

// WithTLS secures both transports with cfg; nil leaves them plain TCP.
// Without a ServerName in cfg, the tablet's certificate is checked against
// the record's hostname.
func WithTLS(cfg *tls.Config) Option {
	return func(o *options) { o.tls = cfg }
}

// Conn is the link to one tablet. See the package documentation for who
// owns it and what it guarantees.
type Conn struct {
	record *topopb.Tablet
	grpc   *grpc.ClientConn
	query  querypb.QueryServiceClient
	rpc    *queryrpc.Client // nil: no query port, unary calls go over gRPC
	unary  Unary
}

// GRPCAddr is the tablet's gRPC address, host:port.
func GRPCAddr(t *topopb.Tablet) string {
	return net.JoinHostPort(t.Hostname, strconv.Itoa(int(t.GrpcPort)))
}

// QueryAddr is the tablet's query port address, or "" when it has none.
func QueryAddr(t *topopb.Tablet) string {
	if t.QueryPort <= 0 {
		return ""
	}
	return net.JoinHostPort(t.Hostname, strconv.Itoa(int(t.QueryPort)))
}

// Dial returns a Conn to the tablet of record t. It does not wait for the
// tablet: calls do.
func Dial(t *topopb.Tablet, opts ...Option) (*Conn, error) {
	if t.Hostname == "" || t.GrpcPort <= 0 {
		return nil, fmt.Errorf("tablet %s has no gRPC address in its record", t.Alias)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	creds := insecure.NewCredentials()
	var rpcOpts []queryrpc.ClientOption
	if o.tls != nil {
		creds = credentials.NewTLS(o.tls)
		rpcOpts = append(rpcOpts, queryrpc.WithTLS(o.tls))
	}
	gc, err := grpc.NewClient(GRPCAddr(t),
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpcbackoff.Bounded),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
	)
	if err != nil {
		return nil, fmt.Errorf("tablet %s at %s: %w", t.Alias, GRPCAddr(t), err)
	}
	c := &Conn{record: t, grpc: gc, query: querypb.NewQueryServiceClient(gc)}
	c.unary = grpcUnary{c.query}
	if addr := QueryAddr(t); addr != "" {
		c.rpc = queryrpc.NewClient(addr, rpcOpts...)
		c.unary = c.rpc
	}
	return c, nil
}

// Tablet is the record the Conn was dialed from.
func (c *Conn) Tablet() *topopb.Tablet { return c.record }

// QueryService is the tablet's gRPC QueryService: streams (StreamExecute,
// StreamHealth) and the calls the query port does not carry
// (ListPrepared).
func (c *Conn) QueryService() querypb.QueryServiceClient { return c.query }

// Unary is the tablet's unary query calls, over the query port when the
// tablet has one.
func (c *Conn) Unary() Unary { return c.unary }

// Replication is the tablet's replication service (resharding streams,
// writes stop and resume, positions).
func (c *Conn) Replication() replicationpb.ReplicationClient {
	return replicationpb.NewReplicationClient(c.grpc)
}

// Backup is the tablet's backup service.
func (c *Conn) Backup() backuppb.BackupServiceClient {
	return backuppb.NewBackupServiceClient(c.grpc)
}

// Close closes both transports.
func (c *Conn) Close() error {
	if c.rpc != nil {
		c.rpc.Close()
	}
	return c.grpc.Close()
}

// Unary is the unary query calls: the gate makes them on every statement.
// queryrpc.Client implements it, and so does the gRPC QueryService
// through Conn.Unary when a tablet has no query port.
type Unary interface {
	Execute(ctx context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error)
	BeginExecute(ctx context.Context, req *querypb.BeginExecuteRequest) (*querypb.BeginExecuteResponse, error)
	Commit(ctx context.Context, req *querypb.CommitRequest) (*querypb.CommitResponse, error)
	Rollback(ctx context.Context, req *querypb.RollbackRequest) (*querypb.RollbackResponse, error)
	Prepare(ctx context.Context, req *querypb.PrepareRequest) (*querypb.PrepareResponse, error)
	CommitPrepared(ctx context.Context, req *querypb.CommitPreparedRequest) (*querypb.CommitPreparedResponse, error)
	RollbackPrepared(ctx context.Context, req *querypb.RollbackPreparedRequest) (*querypb.RollbackPreparedResponse, error)
	ReserveExecute(ctx context.Context, req *querypb.ReserveExecuteRequest) (*querypb.ReserveExecuteResponse, error)
	Release(ctx context.Context, req *querypb.ReleaseRequest) (*querypb.ReleaseResponse, error)
}

var _ Unary = (*queryrpc.Client)(nil)

// grpcUnary adapts the generated gRPC client to Unary.
type grpcUnary struct{ c querypb.QueryServiceClient }

func (g grpcUnary) Execute(ctx context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	return g.c.Execute(ctx, req)
}

func (g grpcUnary) BeginExecute(ctx context.Context, req *querypb.BeginExecuteRequest) (*querypb.BeginExecuteResponse, error) {
	return g.c.BeginExecute(ctx, req)
}

func (g grpcUnary) Commit(ctx context.Context, req *querypb.CommitRequest) (*querypb.CommitResponse, error) {
	return g.c.Commit(ctx, req)
}

func (g grpcUnary) Rollback(ctx context.Context, req *querypb.RollbackRequest) (*querypb.RollbackResponse, error) {
	return g.c.Rollback(ctx, req)
}

func (g grpcUnary) Prepare(ctx context.Context, req *querypb.PrepareRequest) (*querypb.PrepareResponse, error) {
	return g.c.Prepare(ctx, req)
}

func (g grpcUnary) CommitPrepared(ctx context.Context, req *querypb.CommitPreparedRequest) (*querypb.CommitPreparedResponse, error) {
	return g.c.CommitPrepared(ctx, req)
}

func (g grpcUnary) RollbackPrepared(ctx context.Context, req *querypb.RollbackPreparedRequest) (*querypb.RollbackPreparedResponse, error) {
	return g.c.RollbackPrepared(ctx, req)
}

func (g grpcUnary) ReserveExecute(ctx context.Context, req *querypb.ReserveExecuteRequest) (*querypb.ReserveExecuteResponse, error) {
	return g.c.ReserveExecute(ctx, req)
}

func (g grpcUnary) Release(ctx context.Context, req *querypb.ReleaseRequest) (*querypb.ReleaseResponse, error) {
	return g.c.Release(ctx, req)
}
