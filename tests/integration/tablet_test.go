package integration

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/sqlerror"

	"github.com/shardgate/shardgate/localcluster"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/tablet/queryservice"
)

// startService runs a real mariadbd and a query service in front of it,
// with short limits so that they can be observed.
func startService(t *testing.T) (*queryservice.Service, *sql.DB) {
	t.Helper()
	qcfg, direct := startServiceMySQL(t)
	return runService(t, qcfg), direct
}

// startServiceMySQL runs a real mariadbd with table ks.seq and returns a
// query service configuration for it, with short limits, and a direct
// connection.
func startServiceMySQL(t *testing.T) (queryservice.Config, *sql.DB) {
	t.Helper()
	base, err := localcluster.FreeBasePort(localcluster.Config{Keyspaces: []localcluster.KeyspaceSpec{{Name: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := startMySQLD(t, base+2100, 1)
	direct := openDB(t, cfg.DSN(""))
	if _, err := direct.Exec("CREATE TABLE ks.seq (n INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := direct.Exec("INSERT INTO ks.seq VALUES (1),(2),(3),(4),(5),(6),(7),(8),(9),(10),(11),(12)"); err != nil {
		t.Fatal(err)
	}

	qcfg := queryservice.Defaults()
	qcfg.Alias, qcfg.Keyspace, qcfg.Shard, qcfg.Type = "zone1-1", "ks", "0", topopb.TabletType_PRIMARY
	qcfg.MySQL = mysql.ConnParams{UnixSocket: cfg.SocketPath(), Uname: "root", DbName: "ks"}
	qcfg.QueryTimeout = 500 * time.Millisecond
	qcfg.TxIdleTimeout = time.Second
	qcfg.MaxRows = 10
	qcfg.HealthInterval = 100 * time.Millisecond
	return qcfg, direct
}

// runService starts a query service, closed when the test ends.
func runService(t *testing.T, qcfg queryservice.Config) *queryservice.Service {
	t.Helper()
	svc, err := queryservice.New(qcfg, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc.Start()
	t.Cleanup(svc.Close)
	return svc
}

var target = &querypb.Target{Keyspace: "ks", Shard: "0", TabletType: topopb.TabletType_PRIMARY}

func sqlErrCode(err error) sqlerror.ErrorCode {
	var se *sqlerror.SQLError
	if errors.As(err, &se) {
		return se.Num
	}
	return 0
}

func TestTabletKillsStatementsPastTheirTimeout(t *testing.T) {
	svc, direct := startService(t)
	start := time.Now()
	_, err := svc.Execute(context.Background(), &querypb.ExecuteRequest{Target: target, Sql: []byte("SELECT SLEEP(30)")})
	if sqlErrCode(err) != 1969 {
		t.Fatalf("err = %v, want MariaDB's statement timeout (1969)", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the statement returned after %v, long after its 500ms timeout", d)
	}
	// The statement is gone from the server, not just abandoned.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		if err := direct.QueryRow("SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(30)%'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SELECT SLEEP(30) still runs on mariadbd after its timeout")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The service keeps working.
	if _, err := svc.Execute(context.Background(), &querypb.ExecuteRequest{Target: target, Sql: []byte("SELECT 1")}); err != nil {
		t.Fatal(err)
	}
}

func TestTabletRollsBackIdleTransactions(t *testing.T) {
	svc, direct := startService(t)
	ctx := context.Background()
	begun, err := svc.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: []byte("INSERT INTO seq VALUES (100)")})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // past the 1s idle timeout
	_, err = svc.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: []byte("INSERT INTO seq VALUES (101)"), TransactionId: begun.TransactionId})
	if err == nil || !strings.Contains(err.Error(), "idle") {
		t.Fatalf("err = %v, want the transaction reported as rolled back for idling", err)
	}
	var n int
	if err := direct.QueryRow("SELECT COUNT(*) FROM ks.seq WHERE n >= 100").Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows of the abandoned transaction: %d (%v), want 0", n, err)
	}
}

func TestTabletRowLimitAndTargets(t *testing.T) {
	svc, _ := startService(t)
	ctx := context.Background()
	_, err := svc.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: []byte("SELECT * FROM seq")})
	if err == nil || !strings.Contains(err.Error(), "row limit exceeded") {
		t.Fatalf("12 rows with a limit of 10: err = %v", err)
	}
	res, err := svc.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: []byte("SELECT * FROM seq LIMIT 10")})
	if err != nil || len(res.Result.Rows) != 10 {
		t.Fatalf("exactly 10 rows must pass: %v", err)
	}
	wrong := &querypb.Target{Keyspace: "ks", Shard: "-80", TabletType: topopb.TabletType_PRIMARY}
	if _, err := svc.Execute(ctx, &querypb.ExecuteRequest{Target: wrong, Sql: []byte("SELECT 1")}); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Fatalf("a request for another shard must be refused: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !svc.Health().Serving || svc.Health().Stats.GetGtidPosition() == "" {
		if time.Now().After(deadline) {
			t.Fatalf("health = %v, want serving with a GTID position", svc.Health())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
