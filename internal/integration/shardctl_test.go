// Package integration tests Shardgate end to end: the real binaries,
// mariadbd and etcd, on loopback, all stopped at the end.
package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/localcluster"
)

var (
	binDir   string
	buildErr error
)

// TestMain builds shardctl, shardgate and shardtablet into a temporary
// directory (or uses $SHARDGATE_TEST_BIN_DIR, e.g. bin/ after `make
// build`).
func TestMain(m *testing.M) {
	cleanup := func() {}
	if dir := os.Getenv("SHARDGATE_TEST_BIN_DIR"); dir != "" {
		binDir = dir
	} else if tmp, err := os.MkdirTemp("", "integration-bin-"); err != nil {
		buildErr = err
	} else {
		cleanup = func() { os.RemoveAll(tmp) }
		binDir = filepath.Join(tmp, "bin")
		cmd := exec.Command("go", "build", "-o", binDir+"/", "./cmd/...")
		cmd.Dir = "../.." // the module root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/... failed: %v\n%s", err, out)
		}
	}
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
