package ui

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

// testCluster is a topology (in memory) of a keyspace split from -80,80-
// into four shards, copy under way, with one tablet whose address answers
// nothing.
func testCluster(t *testing.T) *topo.Server {
	t.Helper()
	ctx := context.Background()
	ts := topo.NewServer(topo.NewMemoryStore(), "")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ts.CreateKeyspace(ctx, &topopb.Keyspace{Name: "commerce", Sharded: true}))
	for _, s := range []string{"-80", "80-"} {
		_, err := ts.CreateShard(ctx, "commerce", s)
		must(err)
	}
	for _, s := range []string{"-40", "40-80"} {
		_, err := ts.CreateShardServing(ctx, "commerce", s, false)
		must(err)
	}
	must(ts.RebuildSrvKeyspace(ctx, "zone1", "commerce"))
	// A port nothing listens on: the probe finds the tablet unreachable.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	must(ts.SaveTablet(ctx, &topopb.Tablet{Alias: "zone1-100", Cell: "zone1", Keyspace: "commerce", Shard: "-80",
		Type: topopb.TabletType_PRIMARY, Hostname: "127.0.0.1", GrpcPort: int32(port), HttpPort: 15100}))
	must(ts.CreateWorkflow(ctx, &topopb.Workflow{Keyspace: "commerce", Name: "reshard", Sources: []string{"-80"},
		Targets: []string{"-40", "40-80"}, State: topopb.Workflow_RUNNING}))
	must(ts.SaveStreamStatus(ctx, "commerce", "reshard", &topopb.StreamStatus{Receiver: "-40", Sender: "-80",
		Phase: topopb.StreamStatus_COPYING, RowsPerSecond: 100,
		Tables: []*topopb.StreamStatus_TableCopy{{Table: "customer", RowsCopied: 250, RowsTotal: 1000}}}))
	return ts
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	return getAs(t, h, "127.0.0.1:15000", path)
}

func getAs(t *testing.T, h http.Handler, host, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Host = host
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

func TestOverviewShowsShardsTabletsAndCopyProgress(t *testing.T) {
	ui, err := New(testCluster(t), "zone1", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	h := ui.Handler()
	code, page := get(t, h, "/")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d: %s", code, page)
	}
	for _, want := range []string{
		"commerce", `href="/backups/commerce/-80"`, "40-80", // shards, with their backups
		"zone1-100", "unreachable", // the tablet and its health
		"commerce.reshard: RUNNING", "250 of 1000 rows (25%)", "ETA 8s", // the workflow's progress
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the overview lacks %q:\n%s", want, page)
		}
	}

	code, body := get(t, h, "/api/cluster")
	var c Cluster
	if err := json.Unmarshal([]byte(body), &c); code != http.StatusOK || err != nil {
		t.Fatalf("GET /api/cluster = %d, %v: %s", code, err, body)
	}
	serving := map[string]bool{}
	if len(c.Keyspaces) == 1 {
		for _, sh := range c.Keyspaces[0].Shards {
			serving[sh.Name] = sh.InServingGraph
		}
	}
	if len(serving) != 4 || !serving["-80"] || !serving["80-"] || serving["-40"] || serving["40-80"] {
		t.Errorf("keyspaces: %+v (want -80 and 80- serving, -40 and 40-80 not)", c.Keyspaces)
	}
	if len(c.Tablets) != 1 || c.Tablets[0].State != "UNREACHABLE" || len(c.Workflows) != 1 || c.Workflows[0].Progress.Copied != 250 {
		t.Errorf("tablets %+v, workflows %+v", c.Tablets, c.Workflows)
	}
}

func TestBackupsPage(t *testing.T) {
	ui, err := New(testCluster(t), "zone1", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	h := ui.Handler()
	// The shard's tablet cannot be reached: the page says so.
	if code, page := get(t, h, "/backups/commerce/-80"); code != http.StatusOK || !strings.Contains(page, `class="bad"`) {
		t.Errorf("GET /backups/commerce/-80 = %d:\n%s", code, page)
	}
	if code, page := get(t, h, "/backups/commerce/nope"); code != http.StatusNotFound {
		t.Errorf("GET /backups/commerce/nope = %d, want 404: %s", code, page)
	}
}

// TestHostHeader: requests that name the UI by a host name not allowed
// (a page's own name resolving here: DNS rebinding) are refused.
func TestHostHeader(t *testing.T) {
	ui, err := New(testCluster(t), "zone1", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ui.AllowHosts("UI.internal")
	h := ui.Handler()
	for host, want := range map[string]int{
		"127.0.0.1:15000": http.StatusOK, "[::1]:15000": http.StatusOK, "localhost:15000": http.StatusOK,
		"ui.internal": http.StatusOK, "attacker.example:15000": http.StatusForbidden,
	} {
		if code, body := getAs(t, h, host, "/healthz"); code != want {
			t.Errorf("Host %s: %d, want %d: %s", host, code, want, body)
		}
	}
}
