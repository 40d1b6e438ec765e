// Package ui is the admin web UI that `shardctl serve` runs: an
// operator's console. It shows the cluster as etcd, the tablets and the
// gates describe it, and the traffic of the last minutes to hours:
//
//   - the overview (/): queries per second, latency (p50, p99) and errors
//     per keyspace over a window of 5 minutes, an hour or a day
//     (?window=), keyspaces with their shards and serving graph, tablets
//     and their health, gates, resharding workflows with their copy
//     progress, two-phase commits waiting for recovery;
//   - a keyspace (/keyspaces/{ks}): its vschema and tables, its shards
//     and their traffic;
//   - a tablet (/tablets/{alias}): role, health, replication and lag,
//     pools, what runs on it (backups, resharding) and its traffic;
//   - queries (/queries): the statements the gates ran, merged over
//     gates from their /api/query-stats, sortable by any column;
//   - operations (/operations): resharding workflows, backups and
//     restores running now, two-phase commits in recovery;
//   - a shard's backups (/backups/{ks}/{shard}).
//
// /api/cluster and /api/series serve the overview and a scope's series
// as JSON for scripts.
//
// Traffic comes from a metrics sampler (control/metricsampler) that
// scrapes every gate's and tablet's /metrics while the UI runs, so no
// Prometheus server is needed, and it covers only the time the UI has
// run. Charts are SVG drawn in Go (control/ui/svgchart) and embedded in
// the pages: they show without scripts, the build needs no JavaScript
// toolchain, and tests read what they contain. A few lines of plain
// script refetch each console page's live part every few seconds
// (?fragment=1) instead of reloading the page; the backups page still
// reloads itself.
//
// The UI only reads: operations stay in the CLI, where they print what
// they did. Requests must name the UI by an IP address, localhost or an
// allowed host (AllowHosts), against DNS rebinding.
package ui

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/control/backup"
	"github.com/shardgate/shardgate/control/metricsampler"
	"github.com/shardgate/shardgate/control/reshard"
	"github.com/shardgate/shardgate/control/transactions"
	"github.com/shardgate/shardgate/control/ui/svgchart"
	"github.com/shardgate/shardgate/internal/units"
	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

//go:embed templates/*.html
var templateFiles embed.FS

// Server serves the UI from one topology connection.
type Server struct {
	ts    *topo.Server
	cell  string
	opts  []control.Option
	log   *zap.Logger
	pages *template.Template
	// refresh is how often pages reload themselves.
	refresh time.Duration
	// hosts are the names, besides IP addresses and localhost, that
	// requests may carry in their Host header.
	hosts map[string]bool
	// sampler keeps the traffic series of the charts (Run feeds it).
	sampler *metricsampler.Sampler
	// client fetches the gates' query statistics, with debugToken when
	// set.
	client     *http.Client
	debugToken string
}

// AllowHosts lets requests name these hosts (a proxy's name, the
// machine's): others are refused, so that a web page cannot read the UI
// through a name of its own that resolves to this machine (DNS
// rebinding).
func (s *Server) AllowHosts(names ...string) {
	for _, n := range names {
		s.hosts[strings.ToLower(n)] = true
	}
}

// checkHost refuses requests whose Host header names a host not allowed.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(strings.Trim(host, "[]"))
		if net.ParseIP(host) == nil && host != "localhost" && !s.hosts[host] {
			http.Error(w, fmt.Sprintf("host %q is not allowed: open the UI by IP address or localhost, or start it with --allow-host %s", host, host), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// New returns the UI of the cluster in ts, as seen from cell; opts say
// how to reach tablets (TLS).
func New(ts *topo.Server, cell string, log *zap.Logger, opts ...control.Option) (*Server, error) {
	pages, err := template.New("").Funcs(template.FuncMap{
		"ago":     ago,
		"bytes":   units.Bytes,
		"percent": percent,
		"unix":    func(ns int64) string { return time.Unix(0, ns).UTC().Format("2006-01-02 15:04:05Z") },
		"lower":   strings.ToLower,
		"mul1e9":  func(sec int64) int64 { return sec * 1e9 },
		"rate":    svgchart.PerSecond,
		"dur":     svgchart.Seconds,
		"num":     svgchart.Number,
	}).ParseFS(templateFiles, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("admin UI templates: %w", err)
	}
	s := &Server{ts: ts, cell: cell, opts: opts, log: log, pages: pages, refresh: 3 * time.Second, hosts: map[string]bool{},
		client: &http.Client{Timeout: 5 * time.Second}}
	s.SetSampleInterval(0)
	return s, nil
}

// Handler serves the pages and the JSON API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.overviewPage)
	mux.HandleFunc("GET /backups/{keyspace}/{shard}", s.backupsPage)
	mux.HandleFunc("GET /keyspaces/{keyspace}", s.keyspacePage)
	mux.HandleFunc("GET /tablets/{alias}", s.tabletPage)
	mux.HandleFunc("GET /queries", s.queriesPage)
	mux.HandleFunc("GET /operations", s.operationsPage)
	mux.HandleFunc("GET /api/cluster", s.clusterJSON)
	mux.HandleFunc("GET /api/series", s.seriesJSON)
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	return s.checkHost(mux)
}

// Cluster is the overview: everything the front page shows.
type Cluster struct {
	Generated    time.Time                        `json:"generated"`
	Cell         string                           `json:"cell"`
	Keyspaces    []Keyspace                       `json:"keyspaces"`
	Tablets      []Tablet                         `json:"tablets"`
	Gates        []*topopb.Gate                   `json:"gates"`
	Workflows    []Workflow                       `json:"workflows"`
	Transactions []transactions.TransactionStatus `json:"transactions"`
	// Problems are the parts of the overview that could not be read.
	Problems []string `json:"problems,omitempty"`
}

// Keyspace is a keyspace, its shards, and which of them serve.
type Keyspace struct {
	Name    string  `json:"name"`
	Sharded bool    `json:"sharded"`
	Shards  []Shard `json:"shards"`
	// Serving lists, per tablet type, the shards the gates route to.
	Serving map[string][]string `json:"serving"`
	// WritesHeld: a switch of writes has the gates hold the keyspace's
	// writes now.
	WritesHeld bool `json:"writes_held"`
}

// Shard is a shard record and whether the gates route writes to it.
type Shard struct {
	Name           string `json:"name"`
	Primary        string `json:"primary"`
	PrimaryServing bool   `json:"primary_serving"`
	// InServingGraph: the gates send the keyspace's primary traffic here.
	InServingGraph bool `json:"in_serving_graph"`
}

// Tablet is a tablet, the result of probing its health, and where its
// own status page is.
type Tablet struct {
	Alias    string `json:"alias"`
	Keyspace string `json:"keyspace"`
	Shard    string `json:"shard"`
	Type     string `json:"type"`
	State    string `json:"state"`
	Detail   string `json:"detail,omitempty"`
	// Replication is whom a replica follows with its lag and threads, or
	// how many replicas acknowledge a primary's commits.
	Replication string `json:"replication,omitempty"`
	GRPC        string `json:"grpc"`
	StatusURL   string `json:"status_url,omitempty"`
}

// Workflow is a resharding workflow with its streams and copy progress;
// Report is what `shardctl reshard status` prints for it.
type Workflow struct {
	Status   *reshard.WorkflowStatus `json:"status"`
	Progress reshard.CopyProgress    `json:"progress"`
	Report   string                  `json:"-"`
}

// cluster reads the overview. A part that cannot be read is named in
// Problems and the rest is still shown: the UI is most needed when
// something is broken.
func (s *Server) cluster(ctx context.Context) *Cluster {
	c := &Cluster{Generated: time.Now(), Cell: s.cell}
	problem := func(what string, err error) { c.Problems = append(c.Problems, fmt.Sprintf("%s: %v", what, err)) }
	keyspaces, err := s.ts.ListKeyspaces(ctx)
	if err != nil {
		problem("keyspaces", err)
	}
	for _, ks := range keyspaces {
		k := Keyspace{Name: ks.Name, Sharded: ks.Sharded, Serving: map[string][]string{}}
		primaries := map[string]bool{}
		if srv, err := s.ts.GetSrvKeyspace(ctx, s.cell, ks.Name); err != nil {
			problem("serving graph of "+ks.Name, err)
		} else {
			k.WritesHeld = srv.WritesBufferedUntilUnixMs > time.Now().UnixMilli()
			for _, p := range srv.Partitions {
				typ := strings.ToLower(p.TabletType.String())
				for _, ref := range p.Shards {
					k.Serving[typ] = append(k.Serving[typ], ref.Name)
					if p.TabletType == topopb.TabletType_PRIMARY {
						primaries[ref.Name] = true
					}
				}
			}
		}
		shards, err := s.ts.ListShards(ctx, ks.Name)
		if err != nil {
			problem("shards of "+ks.Name, err)
		}
		for _, sh := range shards {
			k.Shards = append(k.Shards, Shard{Name: sh.Name, Primary: sh.PrimaryAlias, PrimaryServing: sh.PrimaryServing, InServingGraph: primaries[sh.Name]})
		}
		c.Keyspaces = append(c.Keyspaces, k)

		flows, problems := s.workflows(ctx, ks.Name)
		c.Workflows = append(c.Workflows, flows...)
		c.Problems = append(c.Problems, problems...)
	}
	tablets, err := control.ListTablets(ctx, s.ts, s.opts...)
	if err != nil {
		problem("tablets", err)
	}
	for _, t := range tablets {
		c.Tablets = append(c.Tablets, tabletOf(t))
	}
	if c.Gates, err = s.ts.ListGates(ctx); err != nil {
		problem("gates", err)
	}
	sort.Slice(c.Gates, func(i, j int) bool { return c.Gates[i].Name < c.Gates[j].Name })
	if c.Transactions, err = transactions.ListTransactions(ctx, s.ts); err != nil {
		problem("transactions", err)
	}
	return c
}

// workflows reads a keyspace's resharding workflows with their status;
// the ones that cannot be read are named in problems.
func (s *Server) workflows(ctx context.Context, keyspace string) (out []Workflow, problems []string) {
	workflows, err := s.ts.ListWorkflows(ctx, keyspace)
	if err != nil {
		problems = append(problems, fmt.Sprintf("workflows of %s: %v", keyspace, err))
	}
	for _, wf := range workflows {
		st, err := reshard.ReshardStatus(ctx, s.ts, keyspace, wf.Name)
		if err != nil {
			problems = append(problems, fmt.Sprintf("workflow %s.%s: %v", keyspace, wf.Name, err))
			continue
		}
		var report strings.Builder
		if err := reshard.WriteStatus(&report, st, time.Now()); err != nil {
			problems = append(problems, fmt.Sprintf("workflow %s.%s: %v", keyspace, wf.Name, err))
		}
		out = append(out, Workflow{Status: st, Progress: st.Progress(), Report: report.String()})
	}
	return out, problems
}

func hostOf(h string) string {
	if h == "" {
		return "127.0.0.1"
	}
	return h
}

// requestTimeout bounds one page: tablets are probed in parallel for up
// to control.HealthProbeTimeout.
const requestTimeout = 10 * time.Second

func (s *Server) overviewPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	c := s.cluster(ctx)
	c.Problems = append(c.Problems, s.samplerProblems()...)
	_, win := window(r)
	lines := []chartLine{{"all", metricsampler.Scope{Kind: metricsampler.Cluster}}}
	for _, ks := range c.Keyspaces {
		lines = append(lines, chartLine{ks.Name, metricsampler.Scope{Kind: metricsampler.Keyspace, Name: ks.Name}})
	}
	s.renderLive(w, r, "overview", struct {
		*Cluster
		page
		Charts []template.HTML
	}{c, s.livePage(r, "", "overview"), s.chartSet("cluster", lines, win)})
}

func (s *Server) clusterJSON(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s.cluster(ctx)); err != nil {
		s.log.Debug("admin UI: write the cluster JSON", zap.Error(err))
	}
}

// backupsPage lists a shard's backups, incomplete and unreadable ones,
// archived binlogs and restore markers, as `shardctl backup list` does.
func (s *Server) backupsPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	ref := backup.ShardRef{Keyspace: r.PathValue("keyspace"), Shard: r.PathValue("shard")}
	page := struct {
		page
		Shard string
		List  *backuppb.ListBackupsResponse
		Error string
	}{page: page{Title: "backups of " + ref.String(), Refresh: backupsRefresh}, Shard: ref.String()}
	if _, err := s.ts.GetShard(ctx, ref.Keyspace, ref.Shard); errors.Is(err, topo.ErrNotFound) {
		http.Error(w, fmt.Sprintf("shard %s: %v", ref, err), http.StatusNotFound)
		return
	} else if err != nil {
		http.Error(w, fmt.Sprintf("read shard %s from the topology: %v", ref, err), http.StatusBadGateway)
		return
	}
	list, err := backup.ListBackups(ctx, s.ts, ref, "", s.opts...)
	if err != nil {
		page.Error = err.Error()
	}
	page.List = list
	s.render(w, "backups.html", page)
}

// backupsRefresh is how often the backups page reloads, in seconds: each
// load lists the object store.
const backupsRefresh = 30

func (s *Server) render(w http.ResponseWriter, name string, data any) {
	var out strings.Builder
	if err := s.pages.ExecuteTemplate(&out, name, data); err != nil {
		s.log.Error("admin UI: render a page", zap.String("page", name), zap.Error(err))
		http.Error(w, "render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(out.String()))
}

func ago(ns int64) string {
	if ns == 0 {
		return "-"
	}
	return time.Since(time.Unix(0, ns)).Round(time.Second).String() + " ago"
}

func percent(done, total int64) int {
	if total <= 0 {
		return 0
	}
	return int(min(100, done*100/total))
}
