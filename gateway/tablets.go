package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shardgate/shardgate/internal/queryrpc"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

// maxResultBytes bounds one result message from a tablet.
const maxResultBytes = 256 << 20

// unaryClient is the query calls the gate makes on every statement. The
// tablet's lean query port (internal/queryrpc) serves them when it has one,
// its gRPC QueryService otherwise.
type unaryClient interface {
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

// grpcUnary adapts the generated gRPC client to unaryClient.
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

// tabletConn is the gate's link to one tablet.
type tabletConn struct {
	record *topopb.Tablet
	addr   string
	conn   *grpc.ClientConn
	client querypb.QueryServiceClient // streaming calls and health
	query  unaryClient                // statements and transactions
	rpc    *queryrpc.Client           // set when query uses the lean port
	cancel context.CancelFunc

	serving atomic.Bool
	health  atomic.Pointer[querypb.StreamHealthResponse]
}

func (tc *tabletConn) where() string {
	return fmt.Sprintf("shard %s/%s (tablet %s)", tc.record.Keyspace, tc.record.Shard, tc.record.Alias)
}

type targetKey struct {
	keyspace, shard string
	tabletType      topopb.TabletType
}

// tabletGateway keeps a connection and a health stream to every tablet in
// the topology and picks a serving tablet for a target.
type tabletGateway struct {
	log *zap.Logger
	// tls, when set, secures the connections to tablets (gRPC and the
	// query port alike).
	tls *tls.Config

	mu      sync.Mutex
	tablets map[string]*tabletConn // by alias
	// byTarget is rebuilt on every change and read without locks.
	byTarget atomic.Pointer[map[targetKey][]*tabletConn]
}

func newTabletGateway(log *zap.Logger, tlsConfig *tls.Config) *tabletGateway {
	g := &tabletGateway{log: log, tls: tlsConfig, tablets: map[string]*tabletConn{}}
	empty := map[targetKey][]*tabletConn{}
	g.byTarget.Store(&empty)
	return g
}

// run follows the tablet list until ctx ends.
func (g *tabletGateway) run(ctx context.Context, ts *topo.Server) {
	go retryWatch(ctx, g.log, "tablets", func() error {
		ch, err := ts.WatchTablets(ctx)
		if err != nil {
			return err
		}
		for tablets := range ch {
			g.update(ctx, tablets)
		}
		return nil
	})
	go func() {
		<-ctx.Done()
		g.mu.Lock()
		defer g.mu.Unlock()
		for alias, tc := range g.tablets {
			tc.close()
			delete(g.tablets, alias)
		}
	}()
}

func (g *tabletGateway) update(ctx context.Context, records []*topopb.Tablet) {
	g.mu.Lock()
	defer g.mu.Unlock()
	seen := map[string]bool{}
	for _, rec := range records {
		seen[rec.Alias] = true
		addr := net.JoinHostPort(rec.Hostname, strconv.Itoa(int(rec.GrpcPort)))
		if tc, ok := g.tablets[rec.Alias]; ok {
			if tc.addr == addr && tc.record.QueryPort == rec.QueryPort && tc.record.Keyspace == rec.Keyspace && tc.record.Shard == rec.Shard && tc.record.Type == rec.Type {
				continue
			}
			g.drop(tc)
		}
		tc, err := g.dial(ctx, rec, addr)
		if err != nil {
			g.log.Error("cannot create a connection to a tablet", zap.String("tablet", rec.Alias), zap.String("addr", addr), zap.Error(err))
			continue
		}
		g.tablets[rec.Alias] = tc
	}
	for alias, tc := range g.tablets {
		if !seen[alias] {
			g.drop(tc)
		}
	}
	g.reindexLocked()
}

func (g *tabletGateway) drop(tc *tabletConn) {
	tc.close()
	delete(g.tablets, tc.record.Alias)
}

func (tc *tabletConn) close() {
	tc.cancel()
	_ = tc.conn.Close()
	if tc.rpc != nil {
		tc.rpc.Close()
	}
}

func (g *tabletGateway) reindexLocked() {
	idx := map[targetKey][]*tabletConn{}
	for _, tc := range g.tablets {
		k := targetKey{tc.record.Keyspace, tc.record.Shard, tc.record.Type}
		idx[k] = append(idx[k], tc)
	}
	g.byTarget.Store(&idx)
}

func (g *tabletGateway) dial(ctx context.Context, rec *topopb.Tablet, addr string) (*tabletConn, error) {
	creds := insecure.NewCredentials()
	var rpcOpts []queryrpc.ClientOption
	if g.tls != nil {
		creds = grpccreds.NewTLS(g.tls)
		rpcOpts = append(rpcOpts, queryrpc.WithTLS(g.tls))
	}
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxResultBytes), grpc.MaxCallSendMsgSize(maxResultBytes)),
	)
	if err != nil {
		return nil, err
	}
	hctx, cancel := context.WithCancel(ctx)
	tc := &tabletConn{record: rec, addr: addr, conn: conn, client: querypb.NewQueryServiceClient(conn), cancel: cancel}
	tc.query = grpcUnary{tc.client}
	if rec.QueryPort > 0 {
		tc.rpc = queryrpc.NewClient(net.JoinHostPort(rec.Hostname, strconv.Itoa(int(rec.QueryPort))), rpcOpts...)
		tc.query = tc.rpc
	}
	go g.watchHealth(hctx, tc)
	return tc, nil
}

// watchHealth follows a tablet's health stream, reconnecting with backoff.
// A tablet counts as serving only while its stream is up and says so.
func (g *tabletGateway) watchHealth(ctx context.Context, tc *tabletConn) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		stream, err := tc.client.StreamHealth(ctx, &querypb.StreamHealthRequest{})
		if err == nil {
			for {
				resp, rerr := stream.Recv()
				if rerr != nil {
					err = rerr
					break
				}
				backoff = 100 * time.Millisecond
				tc.health.Store(resp)
				was := tc.serving.Swap(resp.Serving)
				if was != resp.Serving {
					g.log.Info("tablet serving state changed", zap.String("tablet", tc.record.Alias), zap.Bool("serving", resp.Serving),
						zap.String("health_error", resp.GetStats().GetHealthError()))
				}
			}
		}
		if tc.serving.Swap(false) {
			g.log.Warn("lost health stream of tablet", zap.String("tablet", tc.record.Alias), zap.Error(err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// pick returns a serving tablet for the target.
func (g *tabletGateway) pick(keyspace, shard string, tabletType topopb.TabletType) (*tabletConn, error) {
	candidates := (*g.byTarget.Load())[targetKey{keyspace, shard, tabletType}]
	var serving []*tabletConn
	for _, tc := range candidates {
		if tc.serving.Load() {
			if len(candidates) == 1 {
				return tc, nil
			}
			serving = append(serving, tc)
		}
	}
	if len(serving) > 0 {
		return serving[rand.IntN(len(serving))], nil
	}
	return nil, noTabletError(keyspace, shard, tabletType, candidates)
}

func noTabletError(keyspace, shard string, tabletType topopb.TabletType, candidates []*tabletConn) error {
	typ := strings.ToLower(tabletType.String())
	if len(candidates) == 0 {
		return sqlerr.Internal("no %s tablet for shard %s/%s: none is registered in the topology", typ, keyspace, shard)
	}
	states := make([]string, 0, len(candidates))
	for _, tc := range candidates {
		why := "no health report yet"
		if h := tc.health.Load(); h != nil {
			why = h.GetStats().GetHealthError()
			if why == "" {
				why = "not serving"
			}
		}
		states = append(states, fmt.Sprintf("%s: %s", tc.record.Alias, why))
	}
	sort.Strings(states)
	return sqlerr.Internal("no serving %s tablet for shard %s/%s (%s)", typ, keyspace, shard, strings.Join(states, "; "))
}

// byAlias returns the connection to the tablet with alias if it serves
// keyspace/shard, for a session whose transaction lives there. A tablet
// that is gone, or now serves another shard, is returned as a stand-in
// whose calls fail naming it: the transaction cannot go on, and a
// rollback of it is only logged.
func (g *tabletGateway) byAlias(alias, keyspace, shard string) *tabletConn {
	g.mu.Lock()
	tc := g.tablets[alias]
	g.mu.Unlock()
	if tc != nil && tc.record.Keyspace == keyspace && tc.record.Shard == shard {
		return tc
	}
	rec := &topopb.Tablet{Alias: alias, Keyspace: keyspace, Shard: shard, Type: topopb.TabletType_PRIMARY}
	gone := &tabletConn{record: rec, cancel: func() {}}
	gone.query = goneTablet{err: sqlerr.Internal("the session's transaction on shard %s/%s lives on tablet %s, which no longer serves that shard: the transaction cannot continue; ROLLBACK and retry it", keyspace, shard, alias)}
	return gone
}

// goneTablet answers every call of a transaction whose tablet is gone.
type goneTablet struct{ err error }

func (g goneTablet) Execute(context.Context, *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	return nil, g.err
}

func (g goneTablet) BeginExecute(context.Context, *querypb.BeginExecuteRequest) (*querypb.BeginExecuteResponse, error) {
	return nil, g.err
}

func (g goneTablet) Commit(context.Context, *querypb.CommitRequest) (*querypb.CommitResponse, error) {
	return nil, g.err
}

func (g goneTablet) Rollback(context.Context, *querypb.RollbackRequest) (*querypb.RollbackResponse, error) {
	return nil, g.err
}

func (g goneTablet) Prepare(context.Context, *querypb.PrepareRequest) (*querypb.PrepareResponse, error) {
	return nil, g.err
}

func (g goneTablet) CommitPrepared(context.Context, *querypb.CommitPreparedRequest) (*querypb.CommitPreparedResponse, error) {
	return nil, g.err
}

func (g goneTablet) RollbackPrepared(context.Context, *querypb.RollbackPreparedRequest) (*querypb.RollbackPreparedResponse, error) {
	return nil, g.err
}

func (g goneTablet) ReserveExecute(context.Context, *querypb.ReserveExecuteRequest) (*querypb.ReserveExecuteResponse, error) {
	return nil, g.err
}

func (g goneTablet) Release(context.Context, *querypb.ReleaseRequest) (*querypb.ReleaseResponse, error) {
	return nil, g.err
}

// status lists every tablet and its state for /debug/status.
func (g *tabletGateway) status() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.tablets))
	for _, tc := range g.tablets {
		state := "NOT SERVING"
		if tc.serving.Load() {
			state = "SERVING"
		}
		qps := 0.0
		if h := tc.health.Load(); h != nil {
			qps = h.GetStats().GetQps()
		}
		out = append(out, fmt.Sprintf("%-12s %s/%s %-8s %s %-11s qps=%.1f", tc.record.Alias, tc.record.Keyspace, tc.record.Shard,
			strings.ToLower(tc.record.Type.String()), tc.addr, state, qps))
	}
	sort.Strings(out)
	return out
}
