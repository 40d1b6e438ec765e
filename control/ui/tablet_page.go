package ui

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/control/metricsampler"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/topo"
)

// RunningOp is a backup, restore or verification a tablet runs now, as
// its shardtablet_backup_running gauge said at the last scrape.
type RunningOp struct {
	Tablet, Keyspace, Shard string
	// Op is "backup", "restore", "verify".
	Op string
	// Progress is the share of its bytes done (0-1); -1: not reported.
	Progress float64
}

// Percent is Progress in percent.
func (o RunningOp) Percent() int { return int(o.Progress * 100) }

// Gauge is a tablet gauge as last scraped.
type Gauge struct {
	Name  string
	Value float64
}

type tabletView struct {
	page
	Tablet   Tablet
	Health   *querypb.StreamHealthResponse
	Gauges   []Gauge
	Scraped  time.Time
	Running  []RunningOp
	Flows    []Workflow
	Charts   []template.HTML
	Problems []string
}

// poolGauges are the gauges the tablet page names, and how.
var poolGauges = []struct{ metric, label string }{
	{"shardtablet_pool_connections_in_use", "autocommit pool connections in use"},
	{"shardtablet_tx_pool_connections_in_use", "transaction pool connections in use"},
	{"shardtablet_transactions_open", "transactions open"},
	{"shardtablet_transactions_prepared", "prepared two-phase commit branches"},
	{"shardtablet_resharding_replica_lag_seconds", "resharding: lag of the replicas it copies to (s)"},
}

// tabletPage shows a tablet: its role, health, replication, pools, what
// runs on it and its traffic.
func (s *Server) tabletPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	alias := r.PathValue("alias")
	rec, err := s.ts.GetTablet(ctx, alias)
	if errors.Is(err, topo.ErrNotFound) {
		http.Error(w, fmt.Sprintf("tablet %s: %v", alias, err), http.StatusNotFound)
		return
	} else if err != nil {
		http.Error(w, fmt.Sprintf("read tablet %s from the topology: %v", alias, err), http.StatusBadGateway)
		return
	}
	v := tabletView{page: s.livePage(r, "Tablet "+alias, "")}
	st := control.ProbeTablet(ctx, rec, s.opts...)
	v.Tablet = tabletOf(st)
	v.Health = st.Health
	if ts, ok := s.sampler.TargetStatus(metricsampler.TabletKind, alias); ok {
		v.Scraped = ts.At
		if ts.Err != nil {
			v.Problems = append(v.Problems, fmt.Sprintf("metrics: %v", ts.Err))
		}
		for _, g := range poolGauges {
			if val, ok := ts.Gauges[g.metric]; ok {
				v.Gauges = append(v.Gauges, Gauge{Name: g.label, Value: val})
			}
		}
	} else if rec.HttpPort == 0 {
		v.Problems = append(v.Problems, "the tablet has no HTTP port: no metrics")
	}
	v.Running = s.runningOps(alias)
	flows, problems := s.workflows(ctx, rec.Keyspace)
	v.Problems = append(v.Problems, problems...)
	for _, f := range flows {
		wf := f.Status.Workflow
		if slices.Contains(wf.Sources, rec.Shard) || slices.Contains(wf.Targets, rec.Shard) {
			v.Flows = append(v.Flows, f)
		}
	}
	_, win := window(r)
	v.Charts = s.chartSet("tablet", []chartLine{{alias, metricsampler.Scope{Kind: metricsampler.Tablet, Name: alias}}}, win)
	s.renderLive(w, r, "tablet", v)
}

func tabletOf(t control.TabletStatus) Tablet {
	r := t.Tablet
	tab := Tablet{Alias: r.Alias, Keyspace: r.Keyspace, Shard: r.Shard, Type: strings.ToLower(t.Role().String()),
		State: string(t.State), Detail: t.Detail, Replication: t.Replication(), GRPC: t.Address()}
	if r.HttpPort > 0 {
		tab.StatusURL = fmt.Sprintf("http://%s/debug/status", hostPort(r.Hostname, r.HttpPort))
	}
	return tab
}

// runningOps lists the backups, restores and verifications running now
// on a tablet (alias) or on every tablet (""), from their gauges at the
// last scrape.
func (s *Server) runningOps(alias string) []RunningOp {
	statuses, _ := s.sampler.Status()
	var out []RunningOp
	for _, st := range statuses {
		if st.Target.Kind != metricsampler.TabletKind || alias != "" && st.Target.Name != alias {
			continue
		}
		for key, val := range st.Gauges {
			op, ok := strings.CutPrefix(key, "shardtablet_backup_running{op=")
			if !ok || val < 1 {
				continue
			}
			op = strings.TrimSuffix(op, "}")
			ro := RunningOp{Tablet: st.Target.Name, Op: op, Progress: -1}
			if p, ok := st.Gauges["shardtablet_backup_progress_ratio{op="+op+"}"]; ok {
				ro.Progress = p
			}
			out = append(out, ro)
		}
	}
	slices.SortFunc(out, func(a, b RunningOp) int { return strings.Compare(a.Tablet+a.Op, b.Tablet+b.Op) })
	return out
}
