package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/tablet/tabletclient"
	"github.com/shardgate/shardgate/topo"
)

// HealthProbeTimeout bounds how long ProbeTablet waits for a tablet's first
// health report.
const HealthProbeTimeout = 2 * time.Second

// TabletState is what a health probe found.
type TabletState string

const (
	// Serving: the tablet answered and serves queries.
	Serving TabletState = "SERVING"
	// NotServing: the tablet answered but does not serve; Detail says why
	// (its health error).
	NotServing TabletState = "NOT_SERVING"
	// Unreachable: the tablet did not answer in time, or something else
	// answers at its address; Detail says what happened.
	Unreachable TabletState = "UNREACHABLE"
)

// TabletStatus is a tablet record and what probing its health found.
type TabletStatus struct {
	Tablet *topopb.Tablet
	State  TabletState
	Detail string // why it is not serving or unreachable; empty when serving
	// Health is the tablet's first health report; nil when unreachable.
	Health *querypb.StreamHealthResponse
}

// Role is the tablet's role as its health reports it, or its record's
// type when it did not answer.
func (s TabletStatus) Role() topopb.TabletType {
	if t := s.Health.GetStats().GetTabletType(); t != topopb.TabletType_TABLET_TYPE_UNSPECIFIED {
		return t
	}
	return s.Tablet.Type
}

// Replication describes the tablet's replication: for a replica whom it
// follows, its lag and its threads; for a primary how many replicas
// acknowledge its commits; "" when unknown.
func (s TabletStatus) Replication() string {
	stats := s.Health.GetStats()
	if stats == nil {
		return ""
	}
	if s.Role() == topopb.TabletType_PRIMARY {
		return fmt.Sprintf("semi-sync replicas: %d", stats.SemiSyncReplicas)
	}
	r := stats.Replication
	if r == nil {
		return "not replicating"
	}
	if len(r.Errant) > 0 {
		return "errant: " + strings.Join(r.Errant, ",")
	}
	out := fmt.Sprintf("from %s, io %s, sql %s", r.Source, yesNo(r.IoRunning), yesNo(r.SqlRunning))
	if r.LagKnown {
		out += fmt.Sprintf(", lag %ds", stats.ReplicationLagSeconds)
	} else {
		out += ", lag unknown"
	}
	if r.LastError != "" {
		out += ": " + r.LastError
	}
	return out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// Address is the tablet's gRPC address, host:port.
func (s TabletStatus) Address() string { return TabletAddr(s.Tablet) }

// ListTablets returns every tablet record, sorted by alias, with the
// result of probing its health (ProbeTablet). Tablets are probed in
// parallel, so the call takes about HealthProbeTimeout at most.
func ListTablets(ctx context.Context, ts *topo.Server, opts ...Option) ([]TabletStatus, error) {
	tablets, err := ts.ListTablets(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TabletStatus, len(tablets))
	var wg sync.WaitGroup
	for i, t := range tablets {
		wg.Go(func() { out[i] = ProbeTablet(ctx, t, opts...) })
	}
	wg.Wait()
	return out, nil
}

// ProbeTablet opens the tablet's health stream and reads the first report,
// waiting at most HealthProbeTimeout.
func ProbeTablet(ctx context.Context, t *topopb.Tablet, opts ...Option) TabletStatus {
	st := TabletStatus{Tablet: t, State: Unreachable}
	conn, err := DialTablet(t, opts...)
	if err != nil {
		st.Detail = err.Error()
		return st
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, HealthProbeTimeout)
	defer cancel()
	stream, err := conn.QueryService().StreamHealth(ctx, &querypb.StreamHealthRequest{})
	if err == nil {
		var resp *querypb.StreamHealthResponse
		if resp, err = stream.Recv(); err == nil {
			st.Health = resp
			switch {
			case resp.TabletAlias != t.Alias:
				st.Detail = fmt.Sprintf("%s answers as tablet %q: the record of %s is stale", st.Address(), resp.TabletAlias, t.Alias)
			case resp.Serving:
				st.State = Serving
			default:
				st.State = NotServing
				st.Detail = resp.GetStats().GetHealthError()
			}
			return st
		}
	}
	if errors.Is(err, io.EOF) {
		st.Detail = "health stream ended before the first report"
	} else {
		st.Detail = DescribeRPCError(err)
	}
	return st
}

// TabletAddr is the tablet's gRPC address, host:port.
func TabletAddr(t *topopb.Tablet) string { return tabletclient.GRPCAddr(t) }

// DialTablet makes a (lazy) connection to a tablet (tabletclient.Dial),
// with TLS when an option asks for it (WithTabletTLS). The caller closes
// it.
func DialTablet(t *topopb.Tablet, opts ...Option) (*tabletclient.Conn, error) {
	return tabletclient.Dial(t, tabletclient.WithTLS(BuildOptions(opts).TabletTLS))
}

// RPCError turns a failed query-service call into the MySQL error the
// tablet sent, or says that the tablet could not be reached.
func RPCError(err error, t *topopb.Tablet) error {
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
			return fmt.Errorf("tablet at %s: %s", TabletAddr(t), DescribeRPCError(err))
		}
	}
	return queryconv.ErrorFromStatus(err)
}

func DescribeRPCError(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	switch st.Code() {
	case codes.Unavailable:
		return "unreachable: " + st.Message()
	case codes.DeadlineExceeded:
		return "no answer in time"
	}
	return st.Message()
}
