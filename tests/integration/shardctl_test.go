// Package integration tests Shardgate end to end: the real binaries,
// mariadbd and etcd, on loopback, all stopped at the end.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/localcluster"
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

// shardctl runs the shardctl binary and returns its combined output.
func shardctl(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "shardctl"), args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

func TestShardctlLocalUpTabletListDown(t *testing.T) {
	dataDir := t.TempDir()
	base, err := localcluster.FreeBasePort(localcluster.Config{
		Keyspaces: []localcluster.KeyspaceSpec{{Name: "ks", ShardCount: 4}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ports := localcluster.Config{BasePort: base}.Ports()
	topoAddr := "127.0.0.1:" + strconv.Itoa(ports.EtcdClient)

	// Whatever happens, leave nothing running.
	t.Cleanup(func() {
		if _, err := localcluster.ReadState(dataDir); err != nil {
			return
		}
		if out, err := shardctl(t, 3*time.Minute, "local", "down", "--data-dir", dataDir); err != nil {
			t.Errorf("local down in cleanup: %v\n%s", err, out)
		}
	})

	began := time.Now()
	out, err := shardctl(t, 5*time.Minute, "local", "up", "--detach", "--data-dir", dataDir,
		"--keyspace", "ks:4", "--base-port", strconv.Itoa(base))
	if err != nil {
		t.Fatalf("local up --detach: %v\n%s", err, out)
	}
	t.Logf("local up --detach of 4 shards took %v", time.Since(began))
	if want := fmt.Sprintf("mysql -h127.0.0.1 -P%d -uroot ks", ports.GateMySQL); !strings.Contains(out, want) {
		t.Errorf("local up output does not say how to connect (%q):\n%s", want, out)
	}

	out, err = shardctl(t, time.Minute, "tablet", "list", "--topo", topoAddr)
	if err != nil {
		t.Fatalf("tablet list: %v\n%s", err, out)
	}
	var shards []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Errorf("tablet list line %q: want alias, keyspace, shard, type, address, state", line)
			continue
		}
		if f[1] != "ks" || f[3] != "primary" || f[5] != "SERVING" {
			t.Errorf("tablet list line %q: want a SERVING primary of ks", line)
		}
		shards = append(shards, f[2])
	}
	if want := []string{"-40", "40-80", "80-c0", "c0-"}; !slices.Equal(shards, want) {
		t.Errorf("tablet list shows shards %q, want %q:\n%s", shards, want, out)
	}

	testServe(t, topoAddr)

	st, err := localcluster.ReadState(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	procs := []localcluster.Part{{Name: "supervisor", Proc: st.Supervisor}}
	for _, p := range st.Parts {
		if p.Kind != localcluster.KindEtcd {
			procs = append(procs, p)
		}
	}
	if len(procs) != 1+4+4+1 {
		t.Errorf("the state file records %d processes, want supervisor, 4 mysqld, 4 tablets, gate: %+v", len(procs), procs)
	}

	began = time.Now()
	out, err = shardctl(t, 3*time.Minute, "local", "down", "--data-dir", dataDir)
	if err != nil {
		t.Fatalf("local down: %v\n%s", err, out)
	}
	t.Logf("local down took %v", time.Since(began))
	for _, p := range procs {
		if p.Alive() {
			t.Errorf("%s (pid %d) still runs after local down", p.Name, p.PID)
		}
	}
	if out, err := exec.Command("pgrep", "-f", "--", "--datadir="+dataDir).Output(); err == nil {
		t.Errorf("mariadbd for %s still runs after local down: %s", dataDir, out)
	}
	out, err = shardctl(t, time.Minute, "local", "status", "--data-dir", dataDir)
	if err != nil || !strings.Contains(out, "stopped") || !strings.Contains(out, "no process of the cluster runs") {
		t.Errorf("local status after down: %v\n%s", err, out)
	}
	out, err = shardctl(t, time.Minute, "tablet", "list", "--topo", topoAddr)
	if err == nil || !strings.Contains(out, "cannot reach the topology at "+topoAddr+": is a cluster running? (`shardctl local up`)") {
		t.Errorf("tablet list without a cluster: %v\n%s", err, out)
	}
}

// testServe runs `shardctl serve` against the cluster and checks that its
// overview shows every tablet serving and every shard in the serving
// graph, then stops it with SIGINT.
func testServe(t *testing.T, topoAddr string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(filepath.Join(binDir, "shardctl"), "serve", "--addr", addr, "--topo", topoAddr)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("shardctl serve ended with %v after SIGINT:\n%s", err, out.String())
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("shardctl serve did not stop on SIGINT")
		}
	}()
	var cluster struct {
		Keyspaces []struct {
			Name   string
			Shards []struct {
				Name           string
				InServingGraph bool `json:"in_serving_graph"`
			}
		}
		Tablets []struct{ Alias, State string }
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/api/cluster")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&cluster)
			resp.Body.Close()
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shardctl serve does not answer on %s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(cluster.Tablets) != 4 {
		t.Errorf("the admin UI lists %d tablets, want 4: %+v", len(cluster.Tablets), cluster.Tablets)
	}
	for _, tab := range cluster.Tablets {
		if tab.State != "SERVING" {
			t.Errorf("the admin UI shows tablet %s %s, want SERVING", tab.Alias, tab.State)
		}
	}
	if len(cluster.Keyspaces) != 1 || len(cluster.Keyspaces[0].Shards) != 4 {
		t.Fatalf("the admin UI shows keyspaces %+v, want ks with 4 shards", cluster.Keyspaces)
	}
	for _, sh := range cluster.Keyspaces[0].Shards {
		if !sh.InServingGraph {
			t.Errorf("the admin UI shows shard %s out of the serving graph", sh.Name)
		}
	}
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `href="/backups/ks/-40"`) {
		t.Errorf("GET / = %d, without the shards' backup links:\n%s", resp.StatusCode, page)
	}
}
