package integration

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/shardgate/shardgate/localcluster"
)

// chromiumPath is where Debian's chromium package (make deps) puts the
// browser; $CHROMIUM overrides it.
const chromiumPath = "/usr/bin/chromium"

// TestAdminUI runs `shardctl serve` against a local cluster with traffic
// going through the gate, and drives headless Chromium over every page of
// the console: no page may log a console error, throw an uncaught
// exception or fail to load a resource; the charts of the overview, of a
// keyspace's shards and of a tablet have data points; the queries page
// lists the statements run through the gate. Screenshots of the pages go
// to the test's temporary directory, or $SHARDGATE_SCREENSHOT_DIR (their
// paths are logged).
func TestAdminUI(t *testing.T) {
	browser := os.Getenv("CHROMIUM")
	if browser == "" {
		browser = chromiumPath
	}
	if _, err := exec.LookPath(browser); err != nil {
		t.Fatalf("no Chromium at %s (%v): `make deps` installs it (Debian's chromium package), or set $CHROMIUM", browser, err)
	}
	c := startCluster(t)
	ui := startServe(t, c, "--sample-interval", "1s")

	// Traffic until the test ends: point reads and writes, a scatter, an
	// error (a duplicate key), and reads of the unsharded keyspace.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait() })
	ksDB, mainDB := openDB(t, c.GateDSN("ks")), openDB(t, c.GateDSN("main"))
	wg.Go(func() { uiTraffic(ctx, ksDB, mainDB) })

	// Wait for the sampler to turn the traffic into points.
	waitSeries(t, ui, "keyspace", "ks")
	waitSeries(t, ui, "tablet", tabletAlias(t, c, "ks", "-40"))

	// $SHARDGATE_SCREENSHOT_DIR keeps the screenshots after the test (as
	// CI artifacts); by default they go with the test's temporary files.
	shotDir := os.Getenv("SHARDGATE_SCREENSHOT_DIR")
	if shotDir == "" {
		shotDir = t.TempDir()
	} else if err := os.MkdirAll(shotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(bctx,
		chromedp.ExecPath(browser),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1400, 1000),
	)
	defer cancelAlloc()
	tab, closeTab := chromedp.NewContext(actx)
	defer closeTab()

	var mu sync.Mutex
	var problems []string
	current := ""
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, current+": "+fmt.Sprintf(format, args...))
	}
	err := chromedp.Listen(tab, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				report("console.error(%s)", strings.Join(args, ", "))
			}
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			desc := ""
			if d.Exception != nil {
				desc = d.Exception.Description
			}
			report("uncaught exception: %s %s at %s:%d", d.Text, desc, d.URL, d.LineNumber)
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError {
				report("browser log (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL)
			}
		}
	})
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}

	visit := func(name, path string, wait time.Duration) {
		t.Helper()
		mu.Lock()
		current = path
		mu.Unlock()
		if err := chromedp.Do(tab, chromedp.Navigate(ui+path), chromedp.Sleep(wait)); err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot of %s: %v", path, err)
		}
		file := filepath.Join(shotDir, name+".png")
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot of %s: %s", path, file)
	}
	// points counts the data points drawn in the charts a CSS selector
	// picks (every series' polyline says how many it has).
	points := func(charts string) int {
		t.Helper()
		n, err := chromedp.Run(tab, chromedp.Evaluate[int](fmt.Sprintf(
			`Array.from(document.querySelectorAll(%q)).reduce((n, l) => n + Number(l.getAttribute("data-points")), 0)`,
			charts+" polyline[data-points]")))
		if err != nil {
			t.Fatalf("count the points of %s: %v", charts, err)
		}
		return n
	}
	text := func(selector string) string {
		t.Helper()
		s, err := chromedp.Run(tab, chromedp.Evaluate[string](fmt.Sprintf(
			`(document.querySelector(%q) || {innerText: ""}).innerText`, selector)))
		if err != nil {
			t.Fatalf("read %s: %v", selector, err)
		}
		return s
	}

	// The overview; stay past one live update (3 s): the page's script
	// replaces its live part (the element marked before is gone) without
	// reloading the page (the window keeps its mark).
	visit("overview", "/", 0)
	if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](
		`window.uiProbe = true; document.querySelector("#live h2").dataset.probe = "1"; true`)); err != nil {
		t.Fatalf("mark the overview: %v", err)
	}
	if err := chromedp.Do(tab, chromedp.Sleep(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	updated, err := chromedp.Run(tab, chromedp.Evaluate[bool](
		`window.uiProbe === true && document.querySelector("#live [data-probe]") === null`))
	if err != nil || !updated {
		t.Errorf("the overview's live part was not replaced in place after 4 s (%v)", err)
	}
	visit("overview", "/", 0)
	for _, chart := range []string{"#cluster-qps", "#cluster-latency", "#cluster-errors"} {
		if n := points(chart); n == 0 {
			t.Errorf("the overview's chart %s has no data point after traffic", chart)
		}
	}
	if n := points(`#cluster-qps g[data-series="ks"]`); n == 0 {
		t.Errorf("the overview's queries chart has no point for keyspace ks")
	}
	if !strings.Contains(text("#live"), "ks") {
		t.Errorf("the overview does not list keyspace ks after a live update:\n%s", text("body"))
	}
	visit("overview-1h", "/?window=1h", 500*time.Millisecond)
	visit("overview-24h", "/?window=24h", 500*time.Millisecond)
	if n := points("#cluster-qps"); n == 0 {
		t.Errorf("the 24 h overview has no point (the minute under way)")
	}

	visit("keyspace-ks", "/keyspaces/ks", 500*time.Millisecond)
	if n := points("#shards-qps"); n == 0 {
		t.Errorf("the keyspace page's shard charts have no data point")
	}
	if body := text("body"); !strings.Contains(body, "acct") || !strings.Contains(body, "balance int") || !strings.Contains(body, `"vindexes"`) {
		t.Errorf("the keyspace page lacks its tables, their columns or the vschema:\n%s", body)
	}
	visit("keyspace-main", "/keyspaces/main", 500*time.Millisecond)

	alias := tabletAlias(t, c, "ks", "-40")
	visit("tablet", "/tablets/"+alias, 500*time.Millisecond)
	if n := points("#tablet-qps"); n == 0 {
		t.Errorf("the page of tablet %s has no data point", alias)
	}
	if body := text("#live"); !strings.Contains(body, "serving") || !strings.Contains(body, "pool connections in use") {
		t.Errorf("the tablet page lacks its health or pools:\n%s", body)
	}

	visit("operations", "/operations", 500*time.Millisecond)
	visit("backups", "/backups/ks/-40", 500*time.Millisecond)

	visit("queries", "/queries", 500*time.Millisecond)
	visit("queries-by-calls", "/queries?sort=calls&desc=1", 500*time.Millisecond)
	if body := text("#queries"); !strings.Contains(body, "acct") || !strings.Contains(body, "item_seq") {
		t.Errorf("the queries page does not list the statements run through the gate:\n%s\n%s", body, text("#live"))
	}

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser: %s", p)
	}
}

// uiTraffic runs statements through the gate until ctx ends.
func uiTraffic(ctx context.Context, ks, main *sql.DB) {
	for i := 1; ctx.Err() == nil; i++ {
		_, _ = ks.ExecContext(ctx, "INSERT INTO acct (id, balance) VALUES (?, ?) ON DUPLICATE KEY UPDATE balance = balance + 1", i%500, i)
		_, _ = ks.ExecContext(ctx, "INSERT INTO acct (id, balance) VALUES (1, 1), (1, 2)") // a duplicate key: an error
		var n int
		_ = ks.QueryRowContext(ctx, "SELECT balance FROM acct WHERE id = ?", i%500).Scan(&n)
		if i%10 == 0 {
			_ = ks.QueryRowContext(ctx, "SELECT COUNT(*) FROM acct").Scan(&n)
			_ = main.QueryRowContext(ctx, "SELECT COUNT(*) FROM item_seq").Scan(&n)
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func tabletAlias(t *testing.T, c *localcluster.Cluster, keyspace, shard string) string {
	t.Helper()
	tab, ok := c.Tablet(keyspace, shard)
	if !ok {
		t.Fatalf("no tablet of %s/%s", keyspace, shard)
	}
	return tab.Alias
}

// waitSeries waits until the UI's series of a scope has a point with
// traffic.
func waitSeries(t *testing.T, ui, scope, name string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var s struct {
			Points []struct {
				QPS float64 `json:"qps"`
			} `json:"points"`
		}
		resp, err := http.Get(fmt.Sprintf("%s/api/series?scope=%s&name=%s&window=5m", ui, scope, name))
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&s)
			resp.Body.Close()
		}
		if err == nil {
			for _, p := range s.Points {
				if p.QPS > 0 {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admin UI's %s %s series has no traffic after 60 s: %v %+v", scope, name, err, s)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startServe runs `shardctl serve` against the cluster on a free port
// until the test ends, and returns its base URL once it answers.
func startServe(t *testing.T, c *localcluster.Cluster, args ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(filepath.Join(binDir, "shardctl"), append([]string{"serve", "--addr", addr, "--topo", c.TopoAddr(), "--topo-root", c.TopoRoot()}, args...)...)
	var out bytes.Buffer
	var outMu sync.Mutex
	cmd.Stdout = lockedWriter{&outMu, &out}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				outMu.Lock()
				t.Errorf("shardctl serve ended with %v after SIGINT:\n%s", err, out.String())
				outMu.Unlock()
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("shardctl serve did not stop on SIGINT")
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			outMu.Lock()
			defer outMu.Unlock()
			t.Fatalf("shardctl serve does not answer on %s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
