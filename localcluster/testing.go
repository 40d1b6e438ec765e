package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// Helpers for tests that run clusters (tests/integration,
// tests/clientsuite): one way to find the binaries and to start and
// stop a cluster on free ports.

// TestBinaries returns the directory holding shardctl, shardgate and
// shardtablet for tests: $SHARDGATE_TEST_BIN_DIR (bin/ after `make
// build`), or a temporary directory they are built into from the module
// at moduleRoot; cleanup removes what it built. Call it from TestMain.
func TestBinaries(moduleRoot string) (dir string, cleanup func(), err error) {
	if dir := os.Getenv("SHARDGATE_TEST_BIN_DIR"); dir != "" {
		return dir, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "shardgate-test-bin-")
	if err != nil {
		return "", func() {}, err
	}
	cleanup = func() { os.RemoveAll(tmp) }
	dir = filepath.Join(tmp, "bin")
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/...")
	cmd.Dir = moduleRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return dir, cleanup, fmt.Errorf("go build ./cmd/... failed: %v\n%s", err, out)
	}
	return dir, cleanup, nil
}

// StartForTest brings cfg up on free ports (cfg.BasePort is chosen) and
// stops it when the test ends.
func StartForTest(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	// t.TempDir makes 0700 directories, which the shards' servers, run as
	// the unprivileged mysql user when the test runs as root, could not
	// enter: open them to entering (not listing), as /var/lib is.
	if cfg.DataDir != "" && strings.HasPrefix(cfg.DataDir, os.TempDir()) {
		for _, dir := range []string{cfg.DataDir, filepath.Dir(cfg.DataDir)} {
			if err := os.Chmod(dir, 0o711); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var c *Cluster
	// A port found free may be taken before Up binds it (CI saw it once);
	// Up then starts nothing, and another base port is tried.
	for attempt := 1; ; attempt++ {
		base, err := FreeBasePort(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cfg.BasePort = base
		c, err = Up(ctx, cfg, zap.NewNop())
		var taken *PortTakenError
		if errors.As(err, &taken) && attempt < 3 {
			t.Logf("local cluster: %v; trying another base port", err)
			continue
		}
		if err != nil {
			t.Fatalf("local cluster: %v", err)
		}
		break
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
	})
	return c
}
