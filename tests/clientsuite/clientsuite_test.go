// Package clientsuite runs realistic application flows through real MySQL
// clients, drivers and ORMs (the mariadb CLI, go-sql-driver/mysql, GORM,
// PyMySQL, mysqlclient, SQLAlchemy, MariaDB Connector/J, node mysql2, PHP
// PDO and mysqli, Perl DBD::MariaDB, mariadb-dump and sysbench) against a
// 4-shard Shardgate cluster and against one plain MariaDB holding the same
// schema, and requires the same answers from both.
//
// Each flow is a program (or, for the Go drivers, a function) that prints a
// transcript of everything its driver saw: values as the driver typed
// them, column metadata, affected rows, warnings, errors, lock results.
// The transcripts of the two runs must be equal line by line. Each
// transcript also carries CHECK lines, facts the test requires directly
// (a rollback undid the row, seen from another connection; a second
// session could not take a lock the first held...), and after each run the
// test reads the tables back itself, so a flow that prints nothing, or the
// same wrong thing on both sides, cannot pass.
package clientsuite

import (
	"bytes"
	"context"
	"database/sql"
	_ "embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/freeport"

	_ "github.com/go-sql-driver/mysql" // database/sql driver for setup and checks

	"github.com/shardgate/shardgate/localcluster"
	"github.com/shardgate/shardgate/tablet/mysqld"
)

var (
	//go:embed testdata/vschema.json
	vschema []byte
	//go:embed testdata/schema.sql
	schema []byte
	//go:embed testdata/seed.sql
	seed string
)

// Keyspaces of the cluster, and databases of the same names on the
// reference: ks holds the flows' tables on four shards; ks2, with the same
// vschema, receives the reloaded dump.
const (
	keyspace     = "ks"
	dumpKeyspace = "ks2"
)

var (
	binDir   string
	buildErr error
)

// TestMain builds shardctl, shardgate and shardtablet into a temporary
// directory (or uses $SHARDGATE_TEST_BIN_DIR, e.g. bin/ after `make
// build`).
func TestMain(m *testing.M) {
	var cleanup func()
	binDir, cleanup, buildErr = localcluster.TestBinaries("../..")
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// target is one side of the comparison: the plain MariaDB or the gate.
type target struct {
	name string // "mariadb" or "gate"
	host string
	port int
	// dsn is a go-sql-driver/mysql DSN for root on a database.
	dsn func(database string) string
	db  *sql.DB // on keyspace: resets and checks
}

func (tg *target) addr() string { return net.JoinHostPort(tg.host, strconv.Itoa(tg.port)) }

// env is what every flow is told about its target.
func (tg *target) env(client string) []string {
	return append(os.Environ(),
		"SUITE_HOST="+tg.host,
		"SUITE_PORT="+strconv.Itoa(tg.port),
		"SUITE_USER=root",
		"SUITE_DB="+keyspace,
		// Each client locks a name of its own, so that a lock one flow
		// leaves behind on a broken server cannot fail the next flows.
		"SUITE_LOCK=suite_lock_"+strings.NewReplacer("/", "_", "-", "_").Replace(client),
	)
}

// defaultChecks are the CHECK lines every flow prints, in order.
var defaultChecks = []string{
	"rollback before: absent",
	"rollback: absent",
	"commit before: absent",
	"commit: present",
	"prepared rows: 5",
	"page: 3,4,5,6",
	"page: 7,8,9,10",
	"page: 11,12,13,14",
	"warning: 1292",
	"ignore warning: 1062",
	"lock held: 1",
	"lock refused: 0",
	"lock released: 1",
	"lock taken: 1",
	"duplicate code: 1062",
}

// withChecks returns defaultChecks with extra inserted after the line
// that starts with after (appended when after is empty).
func withChecks(after string, extra ...string) []string {
	out := slices.Clone(defaultChecks)
	if after == "" {
		return append(out, extra...)
	}
	for i, c := range out {
		if strings.HasPrefix(c, after) {
			return slices.Insert(out, i+1, extra...)
		}
	}
	panic("no check " + after)
}

// Rows every flow leaves behind: the seed's acct ids 1 to 20, 101 and 102
// (inserted, updated; 103 is inserted and deleted), 202 (committed; 201
// is rolled back), and alltypes rows 1 to 3 (seed) and 11 and 12 (the
// prepared inserts).
var (
	wantAcctIDs     = append(seq(1, 20), 101, 102, 202)
	wantAllTypesIDs = []int64{1, 2, 3, 11, 12}
)

func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// flow is one client's application flow.
type flow struct {
	name string
	// needs names what must be installed, each with a probe that fails
	// when it is not.
	needs []need
	// checks are the CHECK lines the transcript must hold, in order.
	checks []string
	// extraAcctIDs are acct rows this flow leaves besides wantAcctIDs.
	extraAcctIDs []int64
	// noTableCheck is set by flows that leave ks's tables as the seed left
	// them (mariadb-dump, sysbench): they check their own results.
	noTableCheck bool
	// run runs the flow against tg and returns its transcript.
	run func(t *testing.T, s *suite, tg *target) (string, error)
}

// need is something a flow needs installed.
type need struct {
	what  string // what is missing, for the message
	probe func() error
}

func program(name string) need {
	return need{what: name, probe: func() error { _, err := exec.LookPath(name); return err }}
}

func file(path, pkg string) need {
	return need{what: path + " (Debian package " + pkg + ")", probe: func() error { _, err := os.Stat(path); return err }}
}

// pyModule needs a module importable by Debian's python3 (the flows run
// /usr/bin/python3, where Debian's python3-* packages install, not
// whatever python3 comes first in PATH).
func pyModule(module, pkg string) need {
	return need{what: "Python module " + module + " for /usr/bin/python3 (Debian package " + pkg + ")", probe: func() error {
		out, err := exec.Command(python, "-c", "import "+module).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}}
}

const python = "/usr/bin/python3"

// suite holds what the flows share: the two targets and the compiled
// helpers.
type suite struct {
	ref, gate *target
	cluster   *localcluster.Cluster
	outDir    string // where transcripts are kept, if CLIENTSUITE_OUT says

	javaOnce    sync.Once
	javaClasses string
	javaErr     error
}

// TestClients runs every client's flow against a plain MariaDB and a
// 4-shard cluster, one subtest per client.
func TestClients(t *testing.T) {
	s := &suite{outDir: os.Getenv("CLIENTSUITE_OUT")}
	if s.outDir != "" {
		if err := os.MkdirAll(s.outDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.start(t)
	for _, f := range flows() {
		t.Run(f.name, func(t *testing.T) {
			for _, n := range f.needs {
				if err := n.probe(); err != nil {
					t.Fatalf("%s is not installed (%v): run `make deps`", n.what, err)
				}
			}
			s.runFlow(t, f)
		})
	}
}

// flows lists every client's flow, in the order they run.
func flows() []flow {
	return []flow{
		cliFlow(),
		goSQLFlow("go-sql-driver/prepared", false),
		goSQLFlow("go-sql-driver/interpolated", true),
		gormFlow(),
		pythonFlow("pymysql", "dbapi_flow.py", "pymysql", pyModule("pymysql", "python3-pymysql")),
		pythonFlow("mysqlclient", "dbapi_flow.py", "mysqlclient", pyModule("MySQLdb", "python3-mysqldb")),
		pythonFlow("sqlalchemy", "sqlalchemy_flow.py", "", pyModule("sqlalchemy", "python3-sqlalchemy"), pyModule("MySQLdb", "python3-mysqldb")),
		javaFlow("connectorj/client-prepared", false),
		javaFlow("connectorj/server-prepared", true),
		nodeFlow("mysql2/execute", "execute"),
		nodeFlow("mysql2/query", "query"),
		phpFlow("php/pdo", "pdo"),
		phpFlow("php/mysqli", "mysqli"),
		perlFlow(),
		dumpFlow(),
		sysbenchFlow(),
	}
}

// runFlow resets both targets, runs f against the reference and then the
// gate, and compares.
func (s *suite) runFlow(t *testing.T, f flow) {
	transcripts := map[string]string{}
	for _, tg := range []*target{s.ref, s.gate} {
		s.reset(t, tg)
		start := time.Now()
		out, err := f.run(t, s, tg)
		t.Logf("%s on %s: %s, %d transcript lines", f.name, tg.name, time.Since(start).Round(time.Millisecond), strings.Count(out, "\n"))
		s.keep(t, f.name, tg.name, out)
		if tg == s.ref {
			// The reference is the oracle: a flow that fails there is a
			// bug of the suite, not of the gate.
			if err != nil {
				t.Fatalf("%s failed against plain MariaDB (a bug of the suite): %v\ntranscript:\n%s", f.name, err, out)
			}
			if bad := unexpectedErrors(out); len(bad) > 0 {
				t.Fatalf("%s printed errors against plain MariaDB (a bug of the suite):\n%s", f.name, strings.Join(bad, "\n"))
			}
			if msg := checkLines(out, f.checks); msg != "" {
				t.Fatalf("%s against plain MariaDB (a bug of the suite): %s", f.name, msg)
			}
		} else if err != nil {
			t.Errorf("%s against the gate: %v", f.name, err)
		}
		transcripts[tg.name] = out
	}
	if d := unifiedDiff(transcripts["mariadb"], transcripts["gate"], "mariadb", "gate"); d != "" {
		t.Errorf("transcripts differ (- plain MariaDB, + gate):\n%s", clipLines(d, 400))
	}
	if msg := checkLines(transcripts["gate"], f.checks); msg != "" {
		t.Errorf("gate: %s", msg)
	}
	s.checkTables(t, f)
}

// clipLines keeps the first n lines of s (set CLIENTSUITE_OUT to keep
// whole transcripts).
func clipLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) <= n {
		return s
	}
	return strings.Join(lines[:n], "") + fmt.Sprintf("... %d more lines (CLIENTSUITE_OUT=dir keeps the transcripts)\n", len(lines)-n)
}

// unexpectedErrors returns the transcript's ERROR lines: errors a step did
// not expect.
func unexpectedErrors(out string) []string {
	var bad []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "ERROR") {
			bad = append(bad, l)
		}
	}
	return bad
}

// checkLines compares the transcript's CHECK lines with want, in order,
// and describes the difference ("" when equal).
func checkLines(out string, want []string) string {
	if want == nil {
		return ""
	}
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if c, ok := strings.CutPrefix(l, "CHECK "); ok {
			got = append(got, strings.TrimSpace(c))
		}
	}
	if slices.Equal(got, want) {
		return ""
	}
	return "the facts checked differ from what they must be (- required, + printed):\n" +
		unifiedDiff(strings.Join(want, "\n")+"\n", strings.Join(got, "\n")+"\n", "required", "printed")
}

// keep writes a transcript to the output directory, when there is one.
func (s *suite) keep(t *testing.T, client, target, out string) {
	if s.outDir == "" {
		return
	}
	name := strings.NewReplacer("/", "_").Replace(client) + "." + target + ".txt"
	if err := os.WriteFile(filepath.Join(s.outDir, name), []byte(out), 0o644); err != nil {
		t.Error(err)
	}
}

// reset puts ks's tables back to the seed rows on tg.
func (s *suite) reset(t *testing.T, tg *target) {
	t.Helper()
	for _, stmt := range splitSQL(seed) {
		if _, err := tg.db.Exec(stmt); err != nil {
			t.Fatalf("resetting %s: %s: %v", tg.name, stmt, err)
		}
	}
}

// checkTables reads the tables back through go-sql-driver on both
// targets: each holds the rows every flow leaves, and the two hold the same
// values.
func (s *suite) checkTables(t *testing.T, f flow) {
	t.Helper()
	if f.noTableCheck {
		return
	}
	wantAcct := slices.Sorted(slices.Values(append(slices.Clone(wantAcctIDs), f.extraAcctIDs...)))
	contents := map[string]string{}
	for _, tg := range []*target{s.ref, s.gate} {
		for _, c := range []struct {
			table string
			want  []int64
		}{{"acct", wantAcct}, {"alltypes", wantAllTypesIDs}} {
			ids, err := queryIDs(tg.db, "SELECT id FROM "+c.table+" ORDER BY id")
			if err != nil {
				t.Errorf("%s: reading %s back: %v", tg.name, c.table, err)
				continue
			}
			if !slices.Equal(ids, c.want) {
				msg := fmt.Sprintf("%s: after the flow, %s holds ids %v, want %v", tg.name, c.table, ids, c.want)
				if tg == s.ref {
					t.Fatalf("%s (a bug of the suite)", msg)
				}
				t.Error(msg)
			}
		}
		text, err := tableContents(tg.db, keyspace)
		if err != nil {
			t.Errorf("%s: reading the tables back: %v", tg.name, err)
			return
		}
		contents[tg.name] = text
	}
	if d := unifiedDiff(contents["mariadb"], contents["gate"], "mariadb", "gate"); d != "" {
		t.Errorf("the tables differ after the flow (- plain MariaDB, + gate):\n%s", d)
	}
}

func queryIDs(db *sql.DB, q string) ([]int64, error) {
	rows, err := db.Query(q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// tableContents renders every row of acct and alltypes of database as
// text, values as the server sent them.
func tableContents(db *sql.DB, database string) (string, error) {
	var b strings.Builder
	for _, table := range []string{"acct", "alltypes"} {
		rows, err := db.Query("SELECT * FROM " + database + "." + table + " ORDER BY id")
		if err != nil {
			return "", err
		}
		cols, _ := rows.Columns()
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return "", err
			}
			fmt.Fprintf(&b, "%s:", table)
			for i, v := range vals {
				if v == nil {
					fmt.Fprintf(&b, " %s=NULL", cols[i])
				} else {
					fmt.Fprintf(&b, " %s=%q", cols[i], v)
				}
			}
			b.WriteString("\n")
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// splitSQL splits a script into statements at semicolons that end a line.
func splitSQL(script string) []string {
	var out []string
	for _, stmt := range strings.Split(script, ";\n") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			out = append(out, strings.TrimSuffix(stmt, ";"))
		}
	}
	return out
}

// start brings up the cluster and the reference MariaDB side by side.
func (s *suite) start(t *testing.T) {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	if _, err := mysqld.FindBinary(); err != nil {
		t.Fatalf("%v: run `make deps`", err)
	}
	var (
		wg     sync.WaitGroup
		refCfg mysqld.Config
		refErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		refCfg, refErr = startReference(t)
	}()
	s.cluster = startCluster(t)
	wg.Wait()
	if refErr != nil {
		t.Fatalf("reference MariaDB: %v", refErr)
	}
	s.ref = &target{name: "mariadb", host: "127.0.0.1", port: refCfg.Port, dsn: refCfg.TCPDSN}
	gatePort, _ := strconv.Atoi(strings.TrimPrefix(s.cluster.GateAddr(), "127.0.0.1:"))
	s.gate = &target{name: "gate", host: "127.0.0.1", port: gatePort, dsn: s.cluster.GateDSN}
	for _, tg := range []*target{s.ref, s.gate} {
		db, err := sql.Open("mysql", tg.dsn(keyspace))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		tg.db = db
	}
}

// startCluster runs keyspace ks on four shards and ks2 on two, both with
// the suite's vschema and schema (like startClusterWith in
// tests/integration).
func startCluster(t *testing.T) *localcluster.Cluster {
	t.Helper()
	return localcluster.StartForTest(t, localcluster.Config{
		DataDir: t.TempDir(),
		BinDir:  binDir,
		Keyspaces: []localcluster.KeyspaceSpec{
			{Name: keyspace, ShardCount: 4, VSchema: vschema, Schema: schema},
			{Name: dumpKeyspace, ShardCount: 2, VSchema: vschema, Schema: schema},
		},
	})
}

// startReference runs the plain MariaDB the gate is compared with, on a
// free port, with databases ks and ks2 holding the suite's schema; it is
// stopped and removed when the test ends.
func startReference(t *testing.T) (mysqld.Config, error) {
	// os.MkdirTemp, not t.TempDir: a unix socket path must stay short.
	dir, err := os.MkdirTemp("", "sgcs")
	if err != nil {
		return mysqld.Config{}, err
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	port, err := freeport.Get()
	if err != nil {
		return mysqld.Config{}, err
	}
	cfg := mysqld.Config{DataDir: dir, Port: port, ServerID: 99}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := mysqld.Init(ctx, cfg); err != nil {
		return cfg, err
	}
	proc, err := mysqld.Start(ctx, cfg)
	if err != nil {
		return cfg, err
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		defer scancel()
		_ = proc.Stop(sctx)
	})
	db, err := sql.Open("mysql", cfg.DSN(""))
	if err != nil {
		return cfg, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return cfg, err
	}
	defer conn.Close()
	for _, database := range []string{keyspace, dumpKeyspace} {
		stmts := append([]string{"CREATE DATABASE " + database, "USE " + database}, splitSQL(string(schema))...)
		for _, stmt := range stmts {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return cfg, fmt.Errorf("%s: %w", stmt, err)
			}
		}
	}
	return cfg, nil
}

// flowTimeout bounds each run of a flow: they take a few seconds, and one
// that hangs on the gate must not hold up the suite for long.
const flowTimeout = time.Minute

// runProgram runs a flow program with the target's environment and
// returns its standard output, the transcript. A program that fails
// returns its standard error in the error.
func runProgram(t *testing.T, tg *target, client, dir string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), flowTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = tg.env(client)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s did not finish in time: %w", name, ctx.Err())
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\nstderr:\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// sourceDir is the directory of the suite's sources (the test's working
// directory is the package directory).
func sourceDir(t *testing.T, sub string) string {
	t.Helper()
	dir, err := filepath.Abs(sub)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func pythonFlow(name, script, mode string, needs ...need) flow {
	args := []string{script}
	if mode != "" {
		args = append(args, mode)
	}
	return flow{
		name:  name,
		needs: append([]need{program(python)}, needs...),
		// The DB-API drivers and SQLAlchemy report no SQLSTATE; the
		// error's class is PEP 249's.
		checks: withChecks("duplicate code", "duplicate class: IntegrityError"),
		run: func(t *testing.T, s *suite, tg *target) (string, error) {
			return runProgram(t, tg, name, sourceDir(t, "python"), python, args...)
		},
	}
}
