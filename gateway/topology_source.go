package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardgate/shardgate/topo"
)

// Where the gate's topology comes from, as /debug/status and the
// shardgate_topology_source gauge say it.
const (
	sourceEtcd     = "etcd"     // live from etcd
	sourceSnapshot = "snapshot" // from the local snapshot: etcd does not answer
	sourceNone     = "none"     // nowhere yet: statements fail (notReadError)
)

// topologySource reports where the topology the gate routes by comes
// from.
type topologySource struct {
	topology *topology
	// snapshots is nil when the gate keeps no snapshot
	// (--topo-snapshot-file empty).
	snapshots *topo.SnapshotStore
}

func (s topologySource) current() string {
	if s.snapshots == nil {
		if s.topology.ready() {
			return sourceEtcd
		}
		return sourceNone
	}
	switch s.snapshots.Status().Source {
	case topo.SourceStore:
		return sourceEtcd
	case topo.SourceSnapshot:
		return sourceSnapshot
	}
	if s.topology.ready() {
		// Read once, its watches now waiting for etcd again.
		return sourceEtcd
	}
	return sourceNone
}

// register adds shardgate_topology_source{source}: 1 for where the
// topology comes from now, 0 for the others.
func (s topologySource) register(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, src := range []string{sourceEtcd, sourceSnapshot, sourceNone} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "shardgate_topology_source",
			Help:        "1 for where the gate's topology comes from now: etcd, the local snapshot (etcd does not answer), or none yet.",
			ConstLabels: prometheus.Labels{"source": src},
		}, func() float64 {
			if s.current() == src {
				return 1
			}
			return 0
		}))
	}
}

// status is the /debug/status line.
func (s topologySource) status() string {
	src := s.current()
	switch {
	case s.snapshots == nil && src == sourceNone:
		return "topology: not read yet (etcd does not answer; no --topo-snapshot-file)"
	case s.snapshots == nil:
		return "topology: from etcd (no snapshot kept)"
	}
	st := s.snapshots.Status()
	switch src {
	case sourceEtcd:
		return fmt.Sprintf("topology: from etcd (snapshot kept in %s)", st.Path)
	case sourceSnapshot:
		return fmt.Sprintf("topology: from the snapshot %s written %s (%s ago): etcd does not answer",
			st.Path, st.WrittenAt.UTC().Format(time.RFC3339), time.Since(st.WrittenAt).Round(time.Second))
	}
	if st.LoadErr != nil {
		return fmt.Sprintf("topology: not read yet: etcd does not answer and the snapshot is unusable (%v)", st.LoadErr)
	}
	return fmt.Sprintf("topology: not read yet: etcd does not answer and the snapshot %s lacks part of the topology", st.Path)
}

// gateReady is the gate's readiness (/readyz): it serves once it routes by
// a topology, live or from its snapshot, and stops being ready when it
// starts shutting down, so that a load balancer sends new clients
// elsewhere. Its MySQL and gRPC ports are open before /readyz is served.
func gateReady(ctx context.Context, s topologySource) error {
	if ctx.Err() != nil {
		return errors.New("shutting down")
	}
	if s.current() == sourceNone {
		return errors.New("the gate has not read the topology yet: etcd does not answer and there is no usable snapshot")
	}
	return nil
}
