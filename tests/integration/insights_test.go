package integration

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/querystats"
)

// TestQueryInsights runs a known mix of statements through the gate, with
// the text protocol and prepared statements, and checks what an operator
// reads of it: SHOW QUERY STATS (counts, errors by code, rows, shards
// touched, a slow statement's latency above a fast one's), the same
// through /api/query-stats and `shardctl insights`, the slow query log's
// line, and the Prometheus series of the gate and a tablet, linted with
// promtool.
func TestQueryInsights(t *testing.T) {
	promtool := findPromtool(t)
	c := startCluster(t)
	ctx := context.Background()
	if err := c.RestartGate(ctx, "--log-format=json", "--slow-query-threshold=250ms"); err != nil {
		t.Fatal(err)
	}
	db := openDB(t, c.GateDSN("ks"))
	for id := 1; id <= 20; id++ { // prepared: one statement
		mustExec(t, db, "INSERT INTO acct (id, balance) VALUES (?, ?)", id, id*10)
	}
	for i := 0; i < 50; i++ { // prepared point reads
		var balance int
		if err := db.QueryRow("SELECT balance FROM acct WHERE id = ?", i%20+1).Scan(&balance); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ { // text protocol, every shard
		rows, err := db.Query("SELECT id FROM acct ORDER BY id LIMIT 3")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if n != 3 {
			t.Fatalf("scatter read %d rows, want 3", n)
		}
	}
	for i := 0; i < 3; i++ {
		if _, err := db.Exec("SELECT nosuchcolumn FROM acct WHERE id = 1"); err == nil || !strings.Contains(err.Error(), "1054") {
			t.Fatalf("a read of an unknown column: %v, want error 1054", err)
		}
	}
	for i := 0; i < 2; i++ {
		mustExec(t, db, "SELECT SLEEP(0.4) FROM acct WHERE id = 7")
	}

	// SHOW QUERY STATS, as a client reads it.
	stats := map[string]map[string]string{}
	rows, err := db.Query("SHOW QUERY STATS WHERE keyspace = 'ks' ORDER BY calls DESC")
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := map[string]string{}
		for i, c := range cols {
			row[c] = string(vals[i])
		}
		stats[row["query"]] = row
	}
	rows.Close()
	want := func(query, col, value string) {
		t.Helper()
		row, ok := stats[query]
		if !ok {
			t.Fatalf("SHOW QUERY STATS has no %q; it has %v", query, mapKeys(stats))
		}
		if row[col] != value {
			t.Errorf("%q: %s = %s, want %s (row %v)", query, col, row[col], value, row)
		}
	}
	const (
		insert  = "insert into acct(id, balance) values (:v1, :v2)"
		point   = "select balance from acct where id = :v1"
		scatter = "select id from acct order by id asc limit 3"
		bad     = "select nosuchcolumn from acct where id = :vtg1"
		slow    = "select SLEEP(0.4) from acct where id = :vtg1"
	)
	want(insert, "calls", "20")
	want(insert, "rows_returned", "20")
	want(insert, "shards_per_call", "1.000")
	want(point, "calls", "50")
	want(point, "rows_returned", "50")
	want(point, "shard_calls", "50")
	want(point, "plan", "select_equalunique")
	want(point, "tables", "acct")
	want(scatter, "calls", "5")
	want(scatter, "rows_returned", "15")
	want(scatter, "shard_calls", "20")
	// Each shard sends its first 3 rows (fewer where it has fewer).
	perCall := 0
	for _, tab := range c.Tablets() {
		if tab.Keyspace != "ks" {
			continue
		}
		var n int
		if err := openDB(t, tab.MySQLDSN()).QueryRow("SELECT LEAST(COUNT(*), 3) FROM acct").Scan(&n); err != nil {
			t.Fatal(err)
		}
		perCall += n
	}
	want(scatter, "rows_read", strconv.Itoa(5*perCall))
	want(scatter, "rows_read_per_returned", fmt.Sprintf("%.3f", float64(perCall)/3))
	want(bad, "calls", "3")
	want(bad, "errors", "3")
	want(bad, "error_codes", "1054:3")
	want(slow, "calls", "2")
	slowP50, _ := strconv.ParseFloat(stats[slow]["p50_ms"], 64)
	fastP99, _ := strconv.ParseFloat(stats[point]["p99_ms"], 64)
	if slowP50 < 380 || slowP50 <= fastP99 {
		t.Errorf("slow statement's p50 %.1f ms, point read's p99 %.1f ms: want the slow one at about 400 ms and above", slowP50, fastP99)
	}
	digest := stats[slow]["digest"]
	if digest != querystats.Digest(slow) {
		t.Errorf("digest %s, want the hash of the normalized text %s", digest, querystats.Digest(slow))
	}

	// The same over HTTP and through shardctl, merged across gates.
	var report querystats.Report
	getJSON(t, fmt.Sprintf("http://127.0.0.1:%d%s", c.Ports().GateHTTP, querystats.ReportPath), &report)
	if len(report.Statements) < 5 || report.Gate == "" {
		t.Errorf("/api/query-stats: gate %q, %d statements", report.Gate, len(report.Statements))
	}
	out, err := exec.Command(filepath.Join(binDir, "shardctl"), "insights", "--topo", c.TopoAddr(), "--topo-root", c.TopoRoot(),
		"--sort", "calls", "--keyspace", "ks", "--limit", "2", "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("shardctl insights: %v\n%s", err, out)
	}
	var cluster struct {
		Gates      []string               `json:"gates"`
		Statements []querystats.Statement `json:"statements"`
	}
	if err := json.Unmarshal(out, &cluster); err != nil {
		t.Fatalf("shardctl insights --json: %v\n%s", err, out)
	}
	if len(cluster.Gates) != 1 || len(cluster.Statements) != 2 || cluster.Statements[0].Query != point || cluster.Statements[0].Calls != 50 {
		t.Errorf("shardctl insights --sort calls --limit 2: gates %v, statements %+v", cluster.Gates, cluster.Statements)
	}
	table, err := exec.Command(filepath.Join(binDir, "shardctl"), "insights", "--topo", c.TopoAddr(), "--topo-root", c.TopoRoot()).CombinedOutput()
	if err != nil || !strings.Contains(string(table), slow) || !strings.Contains(string(table), "P99_MS") {
		t.Errorf("shardctl insights table (%v):\n%s", err, table)
	}
	t.Logf("shardctl insights:\n%s", table)

	// The slow query log: one JSON line per slow statement, values
	// replaced.
	lines := slowLogLines(t, filepath.Join(c.DataDir(), "logs", "gate.log"))
	if len(lines) != 2 {
		t.Fatalf("%d slow query lines, want 2: %v", len(lines), lines)
	}
	line := lines[0]
	if line["digest"] != digest || line["query"] != "select SLEEP(:redacted1) from acct where id = :vtg1" || line["user"] != "root" ||
		line["keyspace"] != "ks" || !strings.HasPrefix(fmt.Sprint(line["client"]), "127.0.0.1:") || line["shard_calls"] != 1.0 {
		t.Errorf("slow query line: %v", line)
	}

	// Prometheus: what an operator's dashboards query, and promtool's lint.
	gateMetrics := scrape(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", c.Ports().GateHTTP))
	tablet, _ := c.Tablet("ks", "-40")
	tabletMetrics := scrape(t, "http://"+tablet.HTTPAddr+"/metrics")
	for _, series := range []string{
		`shardgate_query_duration_seconds_bucket{keyspace="ks",plan="select_equalunique",le=`,
		`shardgate_queries_total{keyspace="ks",plan="select_scatter"} 5`,
		`shardgate_query_errors_total{code="1054",keyspace="ks"} 3`,
		`shardgate_table_queries_total{keyspace="ks",plan="select_equalunique",table="acct"} 55`, // 50 reads, 2 sleeps, 3 errors,
		`shardgate_tablet_calls_total{call="execute",keyspace="ks",shard="-40",tablet=`,
		`shardgate_tablet_call_duration_seconds_bucket{keyspace="ks",shard="-40",tablet=`,
		`shardgate_build_info{goversion="go`,
		`shardgate_query_stats_statements `,
	} {
		if !strings.Contains(gateMetrics, series) {
			t.Errorf("the gate's /metrics has no %s", series)
			for _, l := range strings.Split(gateMetrics, "\n") {
				if name, _, _ := strings.Cut(series, "{"); strings.HasPrefix(l, name) {
					t.Log(l)
				}
			}
		}
	}
	for _, series := range []string{`shardtablet_table_queries_total{keyspace="ks",shard="-40",table="acct"}`, `shardtablet_build_info{`} {
		if !strings.Contains(tabletMetrics, series) {
			t.Errorf("tablet %s's /metrics has no %s", tablet.Alias, series)
		}
	}
	for name, text := range map[string]string{"gate": gateMetrics, "tablet": tabletMetrics} {
		lint := exec.Command(promtool, "check", "metrics")
		lint.Stdin = strings.NewReader(text)
		if out, err := lint.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics on the %s's /metrics: %v\n%s", name, err, out)
		}
	}
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// findPromtool finds promtool where `make deps` puts it, or on PATH.
func findPromtool(t *testing.T) string {
	t.Helper()
	for _, p := range []string{filepath.Join(binDir, "tools", "promtool"), "../../bin/tools/promtool"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	t.Fatal("promtool not found in bin/tools or on PATH: `make deps` installs it")
	return ""
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// slowLogLines returns the slow query lines of a JSON log, waiting a
// little for the last to be written.
func slowLogLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for deadline := time.Now().Add(5 * time.Second); ; {
		lines = nil
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "slow query" {
				lines = append(lines, m)
			}
		}
		f.Close()
		if len(lines) >= 2 || time.Now().After(deadline) {
			return lines
		}
		time.Sleep(100 * time.Millisecond)
	}
}
