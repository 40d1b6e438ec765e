package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/internal/querystats"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

// fakeGate serves a gate's /metrics (calls that the test raises) and,
// when it has statements, /api/query-stats.
type fakeGate struct {
	mu    sync.Mutex
	calls int
	stmts []querystats.Statement
	// token, when set, must come with requests for the statistics.
	token string
}

func (g *fakeGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch r.URL.Path {
	case "/metrics":
		fmt.Fprintf(w, `# TYPE shardgate_queries_total counter
shardgate_queries_total{keyspace="commerce",plan="select_equal"} %[1]d
# TYPE shardgate_query_duration_seconds histogram
shardgate_query_duration_seconds_bucket{keyspace="commerce",plan="select_equal",le="0.001"} %[1]d
shardgate_query_duration_seconds_bucket{keyspace="commerce",plan="select_equal",le="+Inf"} %[1]d
shardgate_query_duration_seconds_sum{keyspace="commerce",plan="select_equal"} 0.1
shardgate_query_duration_seconds_count{keyspace="commerce",plan="select_equal"} %[1]d
# TYPE shardgate_tablet_calls_total counter
shardgate_tablet_calls_total{keyspace="commerce",shard="-80",tablet="zone1-100",call="execute"} %[1]d
`, g.calls)
	case querystats.ReportPath:
		if g.token != "" && r.Header.Get("Authorization") != "Bearer "+g.token {
			http.Error(w, "this page needs the debug token", http.StatusUnauthorized)
			return
		}
		if g.stmts == nil {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(querystats.Report{Gate: "g", Taken: time.Now(), Statements: g.stmts})
	default:
		http.NotFound(w, r)
	}
}

// registerGate serves g and registers it in ts under name.
func registerGate(t *testing.T, ts *topo.Server, name string, g *fakeGate) {
	t.Helper()
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := ts.RegisterGate(ctx, &topopb.Gate{Id: name + "/1", Name: name, Hostname: "127.0.0.1", HttpPort: int32(p)}, time.Minute); err != nil {
		t.Fatal(err)
	}
}

func stmt(query string, calls uint64, ms float64) querystats.Statement {
	return querystats.Statement{Digest: querystats.Digest(query), Keyspace: "commerce", Query: query, Plan: "select_equal",
		Calls: calls, TotalSeconds: ms / 1000, RowsReturned: calls, RowsRead: 2 * calls, ShardCalls: calls,
		Latency: []querystats.Bucket{{Index: 80, Count: calls}}}
}

func newTestUI(t *testing.T) (*Server, *topo.Server) {
	t.Helper()
	ts := testCluster(t)
	// The tablet's HTTP port answers nothing either (15100 may be a
	// local cluster's).
	tab, err := ts.GetTablet(context.Background(), "zone1-100")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tab.HttpPort = int32(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	if err := ts.SaveTablet(context.Background(), tab); err != nil {
		t.Fatal(err)
	}
	ui, err := New(ts, "zone1", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ui.SetSampleInterval(time.Second)
	return ui, ts
}

var pointsRe = regexp.MustCompile(`data-points="(\d+)"`)

// chartPoints adds the points drawn in the svg element with the given id.
func chartPoints(t *testing.T, page, id string) int {
	t.Helper()
	start := strings.Index(page, `<svg id="`+id+`"`)
	if start < 0 {
		t.Fatalf("no chart %s in:\n%s", id, page)
	}
	end := strings.Index(page[start:], "</svg>")
	n := 0
	for _, m := range pointsRe.FindAllStringSubmatch(page[start:start+end], -1) {
		v, _ := strconv.Atoi(m[1])
		n += v
	}
	return n
}

func TestOverviewChartsTheSampledTraffic(t *testing.T) {
	ui, ts := newTestUI(t)
	gate := &fakeGate{}
	registerGate(t, ts, "g1", gate)
	h := ui.Handler()

	// Before any sample: empty charts that say why.
	_, page := get(t, h, "/")
	if chartPoints(t, page, "cluster-qps") != 0 || !strings.Contains(page, "No samples yet") {
		t.Errorf("before sampling, the overview's charts are not empty with a reason:\n%s", page)
	}

	ctx := context.Background()
	now := time.Now()
	for i := range 4 {
		gate.mu.Lock()
		gate.calls = 100 * i
		gate.mu.Unlock()
		ui.sampler.Sample(ctx, now.Add(time.Duration(i-4)*time.Second))
	}
	code, page := get(t, h, "/?window=5m")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	for _, id := range []string{"cluster-qps", "cluster-latency", "cluster-errors"} {
		if n := chartPoints(t, page, id); n == 0 {
			t.Errorf("chart %s has no point after 3 sampled seconds", id)
		}
	}
	if !strings.Contains(page, `data-series="commerce"`) || !strings.Contains(page, "commerce 100/s") {
		t.Errorf("the overview's charts lack keyspace commerce at 100/s:\n%s", page)
	}
	// The tablet's /metrics answers nothing: named, the page still shows.
	if !strings.Contains(page, "metrics of tablet zone1-100") {
		t.Errorf("the overview does not name the tablet it could not scrape")
	}

	// The live part alone, for the page's script.
	_, frag := get(t, h, "/?fragment=1")
	if strings.Contains(frag, "<html") || !strings.Contains(frag, `<svg id="cluster-qps"`) {
		t.Errorf("the fragment is not the live part alone:\n%s", frag)
	}

	// The series as JSON.
	_, body := get(t, h, "/api/series?scope=keyspace&name=commerce&window=5m")
	var s struct {
		Points []struct{ QPS float64 }
	}
	if err := json.Unmarshal([]byte(body), &s); err != nil || len(s.Points) != 3 || s.Points[2].QPS != 100 {
		t.Errorf("/api/series: %v %s", err, body)
	}
	if code, _ := get(t, h, "/api/series?scope=galaxy"); code != http.StatusBadRequest {
		t.Errorf("/api/series?scope=galaxy = %d, want 400", code)
	}

	// The keyspace page charts its shards from the gate's calls per tablet.
	_, page = get(t, h, "/keyspaces/commerce")
	if n := chartPoints(t, page, "shards-qps"); n == 0 {
		t.Errorf("the keyspace page's shard chart has no point:\n%s", page)
	}
}

func TestQueriesPageMergesAndSorts(t *testing.T) {
	ui, ts := newTestUI(t)
	registerGate(t, ts, "g1", &fakeGate{stmts: []querystats.Statement{stmt("select * from customer where id = :v1", 10, 50), stmt("insert into orders values (:v1)", 3, 90)}})
	registerGate(t, ts, "g2", &fakeGate{stmts: []querystats.Statement{stmt("select * from customer where id = :v1", 5, 20)}})
	registerGate(t, ts, "old", &fakeGate{})
	h := ui.Handler()

	code, page := get(t, h, "/queries")
	if code != http.StatusOK {
		t.Fatalf("GET /queries = %d: %s", code, page)
	}
	if !strings.Contains(page, "gate old has no query statistics (404") {
		t.Errorf("the queries page does not say that gate old has no statistics:\n%s", page)
	}
	// Merged over g1 and g2: 15 calls, 70 ms; sorted by total time.
	sel, ins := strings.Index(page, "select * from customer"), strings.Index(page, "insert into orders")
	if sel < 0 || ins < 0 || ins > sel || !strings.Contains(page, "<td class=\"num\">15</td>") || !strings.Contains(page, "70.000") {
		t.Errorf("the queries page lacks the merged statements by total time:\n%s", page)
	}
	_, page = get(t, h, "/queries?sort=calls&desc=1")
	if sel, ins := strings.Index(page, "select * from customer"), strings.Index(page, "insert into orders"); sel > ins {
		t.Errorf("sorted by calls, the insert (3 calls) comes before the select (15)")
	}
	if !strings.Contains(page, `href="/queries?sort=calls"`) {
		t.Errorf("the sorted column's header does not link to the other order:\n%s", page)
	}
	// One gate alone.
	_, page = get(t, h, "/queries?gate=g2")
	if strings.Contains(page, "insert into orders") || strings.Contains(page, "gate old") || !strings.Contains(page, "<td class=\"num\">5</td>") {
		t.Errorf("?gate=g2 shows other gates' statements or problems:\n%s", page)
	}
}

func TestKeyspaceTabletAndOperationsPages(t *testing.T) {
	ui, ts := newTestUI(t)
	if err := ts.SaveVSchema(context.Background(), "commerce", []byte(`{"sharded": true, "vindexes": {"hash": {"type": "hash"}},
		"tables": {"customer": {"column_vindexes": [{"column": "id", "name": "hash"}], "columns": [{"name": "email", "type": "VARCHAR"}]}}}`)); err != nil {
		t.Fatal(err)
	}
	h := ui.Handler()
	for path, wants := range map[string][]string{
		"/keyspaces/commerce":   {"customer", "id: hash (hash)", "email VARCHAR", `&#34;vindexes&#34;: {`, `href="/tablets/zone1-100"`, "40-80"},
		"/tablets/zone1-100":    {"unreachable", "commerce</a>/-80", `<svg id="tablet-qps"`, "commerce.reshard: RUNNING"}, // -80 is the workflow's source,
		"/operations":           {"commerce.reshard: RUNNING", "250 of 1000 rows (25%)", "No backup, restore or verification runs."},
		"/backups/commerce/-80": {`<meta http-equiv="refresh" content="30">`},
	} {
		code, page := get(t, h, path)
		if code != http.StatusOK {
			t.Errorf("GET %s = %d: %s", path, code, page)
			continue
		}
		for _, want := range wants {
			if !strings.Contains(page, want) {
				t.Errorf("%s lacks %q:\n%s", path, want, page)
			}
		}
		if path != "/backups/commerce/-80" && (strings.Contains(page, `http-equiv="refresh"`) || !strings.Contains(page, `id="live"`)) {
			t.Errorf("%s reloads itself instead of updating its live part", path)
		}
	}
	for _, path := range []string{"/keyspaces/nope", "/tablets/zone1-999"} {
		if code, page := get(t, h, path); code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404: %s", path, code, page)
		}
	}
	if code, _ := getAs(t, h, "attacker.example", "/queries"); code != http.StatusForbidden {
		t.Errorf("/queries by a foreign host name = %d, want 403", code)
	}
}

func TestRunningOperationsFromTabletGauges(t *testing.T) {
	ui, ts := newTestUI(t)
	metrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `# TYPE shardtablet_backup_running gauge
shardtablet_backup_running{keyspace="commerce",op="backup",shard="80-"} 1
shardtablet_backup_running{keyspace="commerce",op="restore",shard="80-"} 0
# TYPE shardtablet_backup_progress_ratio gauge
shardtablet_backup_progress_ratio{keyspace="commerce",op="backup",shard="80-"} 0.4
`)
	}))
	defer metrics.Close()
	_, port, _ := net.SplitHostPort(metrics.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	if err := ts.SaveTablet(context.Background(), &topopb.Tablet{Alias: "zone1-101", Cell: "zone1", Keyspace: "commerce", Shard: "80-",
		Type: topopb.TabletType_PRIMARY, Hostname: "127.0.0.1", GrpcPort: 1, HttpPort: int32(p)}); err != nil {
		t.Fatal(err)
	}
	ui.sampler.Sample(context.Background(), time.Now())
	_, page := get(t, ui.Handler(), "/operations")
	if !strings.Contains(page, `<a href="/tablets/zone1-101">zone1-101</a></td><td>backup</td>`) || !strings.Contains(page, "40%") || strings.Contains(page, "<td>restore</td>") {
		t.Errorf("the operations page does not show the backup running on zone1-101 at 40%%:\n%s", page)
	}
}

func TestQueriesPageSendsTheDebugToken(t *testing.T) {
	ui, ts := newTestUI(t)
	registerGate(t, ts, "g1", &fakeGate{token: "s3cret", stmts: []querystats.Statement{stmt("select 1 from dual", 1, 1)}})
	h := ui.Handler()
	if _, page := get(t, h, "/queries"); !strings.Contains(page, "gate g1 refuses its query statistics (401") || !strings.Contains(page, "--debug-token-file") {
		t.Errorf("without the token, the page does not say the gate refuses:\n%s", page)
	}
	ui.SetDebugToken("s3cret")
	if _, page := get(t, h, "/queries"); !strings.Contains(page, "select 1 from dual") || strings.Contains(page, "refuses") {
		t.Errorf("with the token, the statement is not listed:\n%s", page)
	}
}
