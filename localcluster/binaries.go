package localcluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// Names of the binaries a local cluster runs.
const (
	GateBinary   = "shardgate"
	TabletBinary = "shardtablet"
)

// findBinaries returns the paths of shardgate and shardtablet: in binDir
// when given, else beside the running executable, then in $PATH.
func findBinaries(binDir string) (map[string]string, error) {
	out := map[string]string{}
	for _, name := range []string{GateBinary, TabletBinary} {
		p, err := findBinary(binDir, name)
		if err != nil {
			return nil, err
		}
		out[name] = p
	}
	return out, nil
}

func findBinary(binDir, name string) (string, error) {
	if binDir != "" {
		p := filepath.Join(binDir, name)
		if isExecutable(p) {
			return filepath.Abs(p)
		}
		return "", fmt.Errorf("run `make build` (%s not found in %s)", name, binDir)
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err := filepath.EvalSymlinks(exe); err == nil {
			if p := filepath.Join(filepath.Dir(exe), name); isExecutable(p) {
				return p, nil
			}
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return filepath.Abs(p)
	}
	return "", fmt.Errorf("run `make build` (%s not found next to shardctl or in PATH)", name)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// checkPorts fails on the first port that something already listens on,
// saying which part of the cluster wanted it.
func checkPorts(uses []portUse) error {
	for _, u := range uses {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(u.port)))
		if err != nil {
			return &PortTakenError{Port: u.port, What: u.what, Err: err}
		}
		ln.Close()
	}
	return nil
}

// PortTakenError is Up's refusal to start a cluster one of whose ports is
// taken; nothing was started, so the caller may try another base port.
type PortTakenError struct {
	Port int
	What string // what wanted it: "the mysqld of zone1-102 (ks/80-c0)"
	Err  error
}

func (e *PortTakenError) Error() string {
	return fmt.Sprintf("port %d, wanted by the %s, is taken (%v): stop what uses it (another local cluster? `shardctl local status`) or move this cluster with --base-port", e.Port, e.What, e.Err)
}

func (e *PortTakenError) Unwrap() error { return e.Err }

// FreeBasePort returns a base port (see Config.BasePort) at which every
// port cfg's cluster would use is free now, for tests that must not collide
// with a developer's cluster on the default ports, nor with each other. It
// picks among bases from 20000 to 29900, which keep every port below the
// kernel's ephemeral range (32768 and up), where outgoing connections take
// their ports. A port may of course be taken between this call and Up.
func FreeBasePort(cfg Config) (int, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = os.TempDir() // only to make a plan: nothing is written
	}
	start := rand.IntN(100)
	for i := range 100 {
		cfg.BasePort = 20000 + 100*((start+i)%100)
		p, err := cfg.plan()
		if err != nil {
			return 0, err
		}
		if checkPorts(p.portUses()) == nil {
			return cfg.BasePort, nil
		}
	}
	return 0, errors.New("no base port from 20000 to 29900 has all the ports the cluster needs free")
}
