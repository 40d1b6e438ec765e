package integration

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// TestLoadDataLocalThroughClients: LOAD DATA LOCAL INFILE through the
// gate's MySQL port from go-sql-driver and the mariadb client: the rows
// land on the shards their vindex names, and the OK packet counts them.
func TestLoadDataLocalThroughClients(t *testing.T) {
	c := startCluster(t)
	var csv strings.Builder
	for i := 1; i <= 500; i++ {
		fmt.Fprintf(&csv, "%d,%d\n", i, i*10)
	}
	mysql.RegisterReaderHandler("acct_rows", func() io.Reader { return strings.NewReader(csv.String()) })
	defer mysql.DeregisterReaderHandler("acct_rows")
	gate := openDB(t, c.GateDSN("ks"))
	res, err := gate.Exec("LOAD DATA LOCAL INFILE 'Reader::acct_rows' INTO TABLE acct FIELDS TERMINATED BY ',' (id, balance)")
	if err != nil {
		t.Fatalf("go-sql-driver LOAD DATA LOCAL: %v", err)
	}
	if n, _ := res.RowsAffected(); n != 500 {
		t.Errorf("LOAD DATA affected %d rows, want 500", n)
	}
	names := []string{}
	for _, tab := range c.Tablets() {
		if tab.Keyspace == "ks" {
			names = append(names, tab.Shard)
		}
	}
	for _, tab := range c.Tablets() {
		if tab.Keyspace != "ks" {
			continue
		}
		shard := openDB(t, tab.MySQLDSN())
		rows, err := shard.Query("SELECT id, balance FROM acct")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, balance int64
			if err := rows.Scan(&id, &balance); err != nil {
				t.Fatal(err)
			}
			if want := shardOf(t, id, names); want != tab.Shard || balance != id*10 {
				t.Errorf("row %d (balance %d) on shard %s, want shard %s", id, balance, tab.Shard, want)
			}
		}
		rows.Close()
	}

	// The mariadb client, from a file, into a table of its own keyspace.
	file := filepath.Join(t.TempDir(), "items.tsv")
	if err := os.WriteFile(file, []byte("501\t5010\n502\t5020\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(c.GateAddr())
	out, err := exec.Command("mariadb", "-h", host, "-P", port, "-u", "root", "--local-infile=1", "ks",
		"-e", "LOAD DATA LOCAL INFILE '"+file+"' INTO TABLE acct (id, balance); SELECT COUNT(*) FROM acct").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "502") {
		t.Fatalf("mariadb --local-infile: %v\n%s", err, out)
	}
}
