package gateway

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

func TestAGateThatNeverReadTheTopologySaysSoInsteadOfUnknownDatabase(t *testing.T) {
	tp := newTopology(nil, "zone1", zap.NewNop())
	e := &Executor{topo: tp}
	src := topologySource{topology: tp}
	err := e.checkTarget("commerce", "", topopb.TabletType_PRIMARY)
	if se := sqlerr.From(err); err == nil || se.Num == 1049 || !strings.Contains(se.Message, "has not read the topology yet") {
		t.Fatalf("checkTarget before any topology: %v, want the topology-not-read error, not 1049", err)
	}
	if got := src.current(); got != sourceNone {
		t.Fatalf("source %q, want none", got)
	}

	tp.applyKeyspaces(map[string]topo.KeyspaceInfo{})
	tp.applyServing(map[string]*topopb.SrvKeyspace{})
	err = e.checkTarget("commerce", "", topopb.TabletType_PRIMARY)
	if se := sqlerr.From(err); err == nil || se.Num != 1049 {
		t.Fatalf("checkTarget of a keyspace the topology lacks: %v, want 1049", err)
	}
	if got := src.current(); got != sourceEtcd {
		t.Fatalf("source %q, want etcd", got)
	}
}

func TestGateIsReadyOnceItHasATopologyAndUntilItShutsDown(t *testing.T) {
	tp := newTopology(nil, "zone1", zap.NewNop())
	src := topologySource{topology: tp}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := gateReady(ctx, src); err == nil || !strings.Contains(err.Error(), "not read the topology") {
		t.Fatalf("ready before any topology: %v, want the topology-not-read reason", err)
	}
	tp.applyKeyspaces(map[string]topo.KeyspaceInfo{})
	tp.applyServing(map[string]*topopb.SrvKeyspace{})
	if err := gateReady(ctx, src); err != nil {
		t.Fatalf("ready with a topology: %v", err)
	}
	cancel()
	if err := gateReady(ctx, src); err == nil || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("ready while shutting down: %v, want shutting down", err)
	}
}
