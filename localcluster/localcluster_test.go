package localcluster

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/tablet/mysqld"
)

// The tests run the real thing: embedded etcd, mariadbd, and the
// shardtablet and shardgate binaries, which TestMain builds (or takes from
// $SHARDGATE_TEST_BIN_DIR, e.g. bin/ after `make build`).

// supervisorEnv makes the test binary act as a detached supervisor: it
// holds the Config (JSON) to run.
const supervisorEnv = "LOCALCLUSTER_TEST_SUPERVISOR"

var (
	binDir   string
	buildErr error
)

func TestMain(m *testing.M) {
	if cfg := os.Getenv(supervisorEnv); cfg != "" {
		os.Exit(superviseForTest(cfg))
	}
	var cleanup func()
	binDir, cleanup, buildErr = buildBinaries()
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// buildBinaries builds ./cmd/... into a temporary directory, unless
// $SHARDGATE_TEST_BIN_DIR names a directory holding them already.
func buildBinaries() (dir string, cleanup func(), err error) {
	if dir := os.Getenv("SHARDGATE_TEST_BIN_DIR"); dir != "" {
		return dir, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "localcluster-bin-")
	if err != nil {
		return "", func() {}, err
	}
	cleanup = func() { os.RemoveAll(tmp) }
	dir = filepath.Join(tmp, "bin")
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/...")
	cmd.Dir = ".." // the module root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", cleanup, fmt.Errorf("go build ./cmd/... failed (cmd/shardgate or cmd/shardtablet does not build): %v\n%s", err, out)
	}
	return dir, cleanup, nil
}

// needBinaries fails (never skips) a test that needs the binaries when they
// did not build.
func needBinaries(t *testing.T) {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// superviseForTest runs a cluster until SIGTERM, as `shardctl local up`
// does in the foreground.
func superviseForTest(cfgJSON string) int {
	var cfg Config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	log, _ := zap.NewDevelopment()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	c, err := Up(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	<-ctx.Done()
	if err := c.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

const testVSchema = `{"sharded": true, "vindexes": {"hash": {"type": "hash"}},
  "tables": {"t": {"column_vindexes": [{"column": "id", "name": "hash"}]}}}`

// No IF NOT EXISTS: running it a second time on a restart would fail.
const testSchema = `-- test table
CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR(32)) ENGINE=InnoDB;`

// testConfig is a two-shard keyspace at a free base port.
func testConfig(t *testing.T) Config {
	t.Helper()
	cfg := Config{
		DataDir: t.TempDir(),
		BinDir:  binDir,
		Keyspaces: []KeyspaceSpec{{
			Name: "ks", ShardCount: 2, VSchema: []byte(testVSchema), Schema: []byte(testSchema),
		}},
	}
	base, err := FreeBasePort(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.BasePort = base
	return cfg
}

// cleanupCluster makes sure nothing of the cluster in dataDir outlives the
// test, whatever happened: closes c if given, then runs Down.
func cleanupCluster(t *testing.T, dataDir string, c **Cluster) {
	t.Cleanup(func() {
		if c != nil && *c != nil {
			if err := (*c).Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
		if _, err := ReadState(dataDir); err == nil {
			if err := Down(context.Background(), dataDir, nil); err != nil {
				t.Errorf("Down in cleanup: %v", err)
			}
		}
	})
}

// recordedProcs returns the processes the state file names (etcd, which
// runs in the supervisor, aside).
func recordedProcs(t *testing.T, dataDir string) []Part {
	t.Helper()
	st, err := ReadState(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []Part
	for _, p := range st.Parts {
		if p.Kind != KindEtcd {
			out = append(out, p)
		}
	}
	return out
}

// assertAllGone checks that none of parts runs and no mariadbd serves a
// data dir of the cluster.
func assertAllGone(t *testing.T, cfg Config, parts []Part) {
	t.Helper()
	for _, p := range parts {
		if p.Alive() {
			t.Errorf("%s (pid %d) still runs", p.Name, p.PID)
		}
	}
	pl, err := cfg.plan()
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range pl.tablets {
		if pid, ok := mysqld.Running(tp.MySQL.DataDir); ok {
			t.Errorf("mariadbd pid %d still runs for %s", pid, tp.MySQL.DataDir)
		}
	}
	if out, err := exec.Command("pgrep", "-f", "--", "--datadir="+cfg.DataDir).Output(); err == nil {
		t.Errorf("processes with --datadir under %s still run: %s", cfg.DataDir, out)
	}
}

func TestUpRestartKeepsDataAndClose(t *testing.T) {
	needBinaries(t)
	cfg := testConfig(t)
	ctx := context.Background()
	var c *Cluster
	cleanupCluster(t, cfg.DataDir, &c)

	began := time.Now()
	c, err := Up(ctx, cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Up of 2 shards took %v", time.Since(began))

	statuses, err := control.ListTablets(ctx, c.Topo())
	if err != nil {
		t.Fatal(err)
	}
	var shards []string
	for _, st := range statuses {
		if st.State != control.Serving {
			t.Errorf("tablet %s is %s (%s)", st.Tablet.Alias, st.State, st.Detail)
		}
		shards = append(shards, st.Tablet.Keyspace+"/"+st.Tablet.Shard)
	}
	if want := []string{"ks/-80", "ks/80-"}; !slices.Equal(shards, want) {
		t.Errorf("tablets serve %q, want %q", shards, want)
	}
	for _, shard := range []string{"-80", "80-"} {
		if fi, err := os.Stat(filepath.Join(cfg.DataDir, "ks", shard, "mysql", "data")); err != nil || !fi.IsDir() {
			t.Errorf("mysqld data dir of shard %s: %v", shard, err)
		}
	}
	if vs, _, err := c.Topo().GetVSchema(ctx, "ks"); err != nil || string(vs) != testVSchema {
		t.Errorf("vschema in topo = %q, %v", vs, err)
	}
	if err := pingMySQL(ctx, c.GateAddr()); err != nil {
		t.Errorf("gate: %v", err)
	}

	// The schema ran on both shards; write a row straight into one.
	tab, ok := c.Tablet("ks", "-80")
	if !ok {
		t.Fatal("no tablet for ks/-80")
	}
	db := openDB(t, tab.MySQLDSN())
	if _, err := db.ExecContext(ctx, "INSERT INTO t (id, v) VALUES (1, 'kept')"); err != nil {
		t.Fatalf("write to shard -80 directly: %v", err)
	}
	db.Close()
	other, _ := c.Tablet("ks", "80-")
	countRows(t, other.MySQLDSN(), 0)

	parts := recordedProcs(t, cfg.DataDir)
	if len(parts) != 5 { // 2 mysqld, 2 tablets, 1 gate
		t.Errorf("state records %d processes, want 5: %v", len(parts), parts)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	assertAllGone(t, cfg, parts)
	if st, err := ReadState(cfg.DataDir); err != nil || st.Status != StatusStopped || len(st.Parts) != 0 {
		t.Errorf("state after Close = %+v, %v", st, err)
	}

	// Restart on the same data dir: the row is still there, and the schema
	// is not run again (it would fail: the table exists).
	began = time.Now()
	c, err = Up(ctx, cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Logf("restart took %v", time.Since(began))
	countRows(t, tab.MySQLDSN(), 1)
	if st := c.State(); !slices.Equal(st.SchemaApplied, []string{"ks"}) {
		t.Errorf("schema applied = %q", st.SchemaApplied)
	}
	parts = recordedProcs(t, cfg.DataDir)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	assertAllGone(t, cfg, parts)
	// Down on a stopped cluster has nothing to do.
	if err := Down(ctx, cfg.DataDir, nil); err != nil {
		t.Errorf("Down after Close: %v", err)
	}
}

func TestDetachThenDown(t *testing.T) {
	needBinaries(t)
	cfg := testConfig(t)
	ctx := context.Background()
	cleanupCluster(t, cfg.DataDir, nil)
	st := detachForTest(t, cfg)
	parts := recordedProcs(t, cfg.DataDir)
	if len(parts) != 5 {
		t.Errorf("state records %d processes, want 5: %v", len(parts), parts)
	}

	rep, err := Status(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.SupervisorAlive {
		t.Error("status: supervisor not alive")
	}
	for _, p := range rep.Parts {
		if !p.Alive {
			t.Errorf("status: %s not alive", p.Name)
		}
	}
	// A second cluster on the same data dir is refused.
	if _, err := Up(ctx, cfg, nil); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Up: error = %v, want already running", err)
	}

	if err := Down(ctx, cfg.DataDir, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	assertAllGone(t, cfg, append(parts, Part{Name: "supervisor", Proc: st.Supervisor}))
}

func TestDownAfterSupervisorCrash(t *testing.T) {
	needBinaries(t)
	cfg := testConfig(t)
	ctx := context.Background()
	cleanupCluster(t, cfg.DataDir, nil)
	st := detachForTest(t, cfg)
	parts := recordedProcs(t, cfg.DataDir)

	// The supervisor dies without stopping anything: the children live on
	// in their own sessions.
	if err := syscall.Kill(st.Supervisor.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !waitGone(st.Supervisor, 10*time.Second) {
		t.Fatal("supervisor survived SIGKILL")
	}
	rep, err := Status(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.SupervisorAlive {
		t.Error("status: a killed supervisor reads as alive")
	}
	for _, p := range rep.Parts {
		if p.Kind != KindEtcd && !p.Alive {
			t.Errorf("status: %s died with the supervisor", p.Name)
		}
	}
	// Up refuses to start over the leftovers and says what to do.
	if _, err := Up(ctx, cfg, nil); err == nil || !strings.Contains(err.Error(), "shardctl local down") {
		t.Errorf("Up over leftovers: error = %v", err)
	}

	if err := Down(ctx, cfg.DataDir, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	assertAllGone(t, cfg, parts)
}

// detachForTest runs cfg's cluster in a detached supervisor (this test
// binary, see TestMain) and waits until it serves.
func detachForTest(t *testing.T, cfg Config) *State {
	t.Helper()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(supervisorEnv, string(data))
	ctx, cancel := context.WithTimeout(context.Background(), DefaultStartTimeout)
	defer cancel()
	began := time.Now()
	st, err := Detach(ctx, cfg.DataDir, []string{os.Args[0], "-test.run=^$"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("detached cluster serving after %v", time.Since(began))
	return st
}

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func countRows(t *testing.T, dsn string, want int) {
	t.Helper()
	db := openDB(t, dsn)
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Errorf("%s: %d rows in t, want %d", dsn, n, want)
	}
	db.Close()
}

func TestConfigPorts(t *testing.T) {
	p := Config{}.Ports()
	want := Ports{EtcdClient: 2379, EtcdPeer: 2380, GateMySQL: 15306, GateGRPC: 15991, GateHTTP: 15001,
		TabletGRPCBase: 16100, TabletHTTPBase: 15100, TabletQueryBase: 18100, MySQLBase: 17100}
	if p != want {
		t.Errorf("default ports = %+v, want %+v", p, want)
	}
	p = Config{BasePort: 25000}.Ports()
	want = Ports{EtcdClient: 12379, EtcdPeer: 12380, GateMySQL: 25306, GateGRPC: 25991, GateHTTP: 25001,
		TabletGRPCBase: 26100, TabletHTTPBase: 25100, TabletQueryBase: 28100, MySQLBase: 27100}
	if p != want {
		t.Errorf("ports at base 25000 = %+v, want %+v", p, want)
	}
}

func TestConfigPlan(t *testing.T) {
	cfg := Config{DataDir: "/tmp/lc", Keyspaces: []KeyspaceSpec{
		{Name: "commerce", ShardCount: 4},
		{Name: "lookup"},
	}}
	p, err := cfg.plan()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tp := range p.tablets {
		got = append(got, fmt.Sprintf("%s %s/%s grpc=%d http=%d mysql=%d %s", tp.Alias, tp.Keyspace, tp.Shard, tp.GRPCPort, tp.HTTPPort, tp.MySQL.Port, tp.MySQL.DataDir))
	}
	want := []string{
		"zone1-100 commerce/-40 grpc=16100 http=15100 mysql=17100 /tmp/lc/commerce/-40/mysql",
		"zone1-101 commerce/40-80 grpc=16101 http=15101 mysql=17101 /tmp/lc/commerce/40-80/mysql",
		"zone1-102 commerce/80-c0 grpc=16102 http=15102 mysql=17102 /tmp/lc/commerce/80-c0/mysql",
		"zone1-103 commerce/c0- grpc=16103 http=15103 mysql=17103 /tmp/lc/commerce/c0-/mysql",
		"zone1-104 lookup/0 grpc=16104 http=15104 mysql=17104 /tmp/lc/lookup/0/mysql",
	}
	if !slices.Equal(got, want) {
		t.Errorf("plan:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if p.keyspaces[0].Sharded != true || p.keyspaces[1].Sharded != false {
		t.Errorf("sharded = %v, %v; want true, false", p.keyspaces[0].Sharded, p.keyspaces[1].Sharded)
	}
}

func TestConfigValidate(t *testing.T) {
	ks := []KeyspaceSpec{{Name: "ks", ShardCount: 2}}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no data dir", Config{Keyspaces: ks}, "DataDir is required"},
		{"no keyspace", Config{DataDir: "/tmp/x"}, "no keyspace"},
		{"bad shard count", Config{DataDir: "/tmp/x", Keyspaces: []KeyspaceSpec{{Name: "ks", ShardCount: 3}}}, "power of two"},
		{"gap", Config{DataDir: "/tmp/x", Keyspaces: []KeyspaceSpec{{Name: "ks", Shards: []string{"-40", "80-"}}}}, `gap between "-40" and "80-"`},
		{"twice", Config{DataDir: "/tmp/x", Keyspaces: append(ks, ks...)}, "given twice"},
		{"port collision", Config{DataDir: "/tmp/x", Keyspaces: ks, GateHTTPPort: 15100}, "port 15100 is wanted by both the gate HTTP and the tablet zone1-100 HTTP"},
		{"port out of range", Config{DataDir: "/tmp/x", Keyspaces: ks, BasePort: 64000}, "not a TCP port"},
		{"socket path too long", Config{DataDir: "/tmp/" + strings.Repeat("d", 100), Keyspaces: ks}, "shorter DataDir"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate() = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

func TestUpReportsTakenPort(t *testing.T) {
	needBinaries(t)
	cfg := testConfig(t)
	port := cfg.Ports().GateMySQL
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Up(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("port %d, wanted by the gate MySQL, is taken", port)) {
		t.Errorf("error = %v", err)
	}
}

func TestUpReportsMissingBinaries(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), BinDir: t.TempDir(), Keyspaces: []KeyspaceSpec{{Name: "ks"}}}
	_, err := Up(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "run `make build` (shardgate not found in") {
		t.Errorf("error = %v", err)
	}
	if _, err := ReadState(cfg.DataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed Up left a state file: %v", err)
	}
}

// Replicas follow their shard's primary in the plan: own ports, server
// ids and data directories under the shard's; tablets added later come
// after every shard's own.
func TestConfigPlanWithReplicas(t *testing.T) {
	cfg := Config{DataDir: "/tmp/lc", Replicas: 1, Keyspaces: []KeyspaceSpec{{Name: "ks", ShardCount: 2}},
		ExtraTablets: []ExtraTablet{{Keyspace: "ks", Shard: "80-", Type: "rdonly"}}}
	p, err := cfg.plan()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tp := range p.tablets {
		got = append(got, fmt.Sprintf("%s %s %s/%s grpc=%d mysql=%d id=%d %s", tp.Alias, tp.Type, tp.Keyspace, tp.Shard, tp.GRPCPort, tp.MySQL.Port, tp.MySQL.ServerID, tp.MySQL.DataDir))
	}
	want := []string{
		"zone1-100 primary ks/-80 grpc=16100 mysql=17100 id=100 /tmp/lc/ks/-80/mysql",
		"zone1-101 replica ks/-80 grpc=16101 mysql=17101 id=101 /tmp/lc/ks/-80/replica-101/mysql",
		"zone1-102 primary ks/80- grpc=16102 mysql=17102 id=102 /tmp/lc/ks/80-/mysql",
		"zone1-103 replica ks/80- grpc=16103 mysql=17103 id=103 /tmp/lc/ks/80-/replica-103/mysql",
		"zone1-104 rdonly ks/80- grpc=16104 mysql=17104 id=104 /tmp/lc/ks/80-/replica-104/mysql",
	}
	if !slices.Equal(got, want) {
		t.Errorf("plan:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := (Config{DataDir: "/tmp/lc", Replicas: 9, Keyspaces: []KeyspaceSpec{{Name: "ks"}}}).plan(); err == nil {
		t.Error("9 replicas per shard were accepted")
	}
	if _, err := (Config{DataDir: "/tmp/lc", Keyspaces: []KeyspaceSpec{{Name: "ks"}}, ExtraTablets: []ExtraTablet{{Keyspace: "ks", Shard: "-80", Type: "replica"}}}).plan(); err == nil {
		t.Error("an added tablet of a shard the cluster lacks was accepted")
	}
}
