package vreplication

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/proto/topopb"
)

// A copy waits while a replica of its shard lags past the workflow's
// bound, says so in its status, and goes on once the replica caught up.
func TestCopyWaitsForLaggingReplicas(t *testing.T) {
	e := &Engine{metrics: newMetrics(nil)}
	s := &stream{e: e, status: &topopb.StreamStatus{}, log: zap.NewNop()}
	s.wf.Store(&topopb.Workflow{MaxReplicaLagSeconds: 5})
	e.replicaLag.set("zone1-101", 12*time.Second)

	done := make(chan struct{})
	go func() {
		s.throttleOnReplicaLag(context.Background())
		close(done)
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("the copy went on while a replica lagged 12 s, past the 5 s bound")
	default:
	}
	s.mu.Lock()
	why := s.status.Throttled
	s.mu.Unlock()
	if !strings.Contains(why, "zone1-101 lags 12s") {
		t.Fatalf("status says %q; want it to name the lagging replica", why)
	}

	e.replicaLag.set("zone1-101", 2*time.Second)
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("the copy still waits 2 s after the replica caught up")
	}
	if s.status.Throttled != "" {
		t.Fatalf("status still says throttled: %q", s.status.Throttled)
	}

	// Without a bound, a lagging replica does not hold the copy.
	s.wf.Store(&topopb.Workflow{})
	e.replicaLag.set("zone1-101", time.Hour)
	finished := make(chan struct{})
	go func() { s.throttleOnReplicaLag(context.Background()); close(finished) }()
	select {
	case <-finished:
	case <-time.After(time.Second):
		t.Fatal("a workflow without a lag bound waited for a replica")
	}
}
