package localcluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// StateFileName is the state file under the data dir.
const StateFileName = "cluster.json"

// lockFileName is locked (flock) by the process supervising the cluster for
// as long as it runs. The kernel drops the lock when that process dies, so
// a held lock means a live supervisor, whatever the state file says.
const lockFileName = "cluster.lock"

// Status values of State.Status.
const (
	StatusStarting = "starting" // Up is bringing the cluster up
	StatusServing  = "serving"  // every part is up; Up has returned
	StatusStopping = "stopping" // Close or Down is stopping it
	StatusStopped  = "stopped"  // nothing runs
	StatusFailed   = "failed"   // Up failed and stopped what it had started; see Error
)

// Kinds of Part.
const (
	KindEtcd   = "etcd"
	KindMySQLd = "mysqld"
	KindTablet = "tablet"
	KindGate   = "gate"
)

// State is what DataDir/cluster.json records about a local cluster, so that
// another process (`shardctl local down`, `local status`) can find and
// stop its parts. The supervisor rewrites it (atomically) whenever a part
// starts or stops.
type State struct {
	DataDir string `json:"data_dir"`
	Status  string `json:"status"`
	Error   string `json:"error,omitempty"`
	// Supervisor is the process that ran Up: it holds embedded etcd and
	// the lock, and stops everything on SIGTERM.
	Supervisor Proc     `json:"supervisor"`
	Ports      Ports    `json:"ports"`
	Topo       string   `json:"topo"` // etcd client address
	TopoRoot   string   `json:"topo_root"`
	Keyspaces  []string `json:"keyspaces"`
	// Layout is each keyspace as NAME:SHARD,SHARD and BasePort the base
	// port it ran with: what `local up` needs to start the same cluster
	// again without flags.
	Layout   []string `json:"layout,omitempty"`
	BasePort int      `json:"base_port,omitempty"`
	// Replicas is the replica tablets per shard it ran with, and
	// ExtraTablets the tablets added to it since (AddTablet).
	Replicas     int           `json:"replicas,omitempty"`
	ExtraTablets []ExtraTablet `json:"extra_tablets,omitempty"`
	Parts        []Part        `json:"parts"`
	// SchemaApplied lists the keyspaces whose Schema has run: a restart on
	// the same data does not run it again.
	SchemaApplied []string  `json:"schema_applied,omitempty"`
	Updated       time.Time `json:"updated"`
}

// Proc identifies a process: its pid and the start time the kernel gives
// it (clock ticks since boot), so a pid reused by an unrelated process is
// never mistaken for ours.
type Proc struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start,omitempty"`
}

// Part is one process of the cluster. Etcd runs inside the supervisor, so
// its Proc is the supervisor's.
type Part struct {
	Kind string `json:"kind"`
	Name string `json:"name"` // "mysqld commerce/-40", "tablet zone1-100", "gate"
	Proc
	Addr string `json:"addr,omitempty"` // what it listens on, for people
	Dir  string `json:"dir,omitempty"`  // mysqld: its mysqld.Config.DataDir
	Log  string `json:"log,omitempty"`
}

// ReadState reads DataDir/cluster.json. A data dir without one is an error
// wrapping fs.ErrNotExist.
func ReadState(dataDir string) (*State, error) {
	path := filepath.Join(dataDir, StateFileName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no local cluster in %s (no %s): %w", dataDir, StateFileName, err)
	}
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &st, nil
}

// writeState replaces DataDir/cluster.json atomically, so a reader never
// sees half a file.
func writeState(dataDir string, st *State) error {
	st.Updated = time.Now().UTC().Truncate(time.Millisecond)
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dataDir, StateFileName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// dirLock is the flock on DataDir/cluster.lock.
type dirLock struct{ f *os.File }

// errLocked is returned by tryLock when another process holds the lock.
var errLocked = errors.New("locked by another process")

// tryLock takes the data dir's lock without waiting.
func tryLock(dataDir string) (*dirLock, error) {
	f, err := os.OpenFile(filepath.Join(dataDir, lockFileName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return &dirLock{f: f}, nil
}

// locked reports whether a live process holds the data dir's lock.
func locked(dataDir string) bool {
	if _, err := os.Stat(filepath.Join(dataDir, lockFileName)); err != nil {
		return false
	}
	l, err := tryLock(dataDir)
	if err != nil {
		return errors.Is(err, errLocked)
	}
	l.release()
	return false
}

func (l *dirLock) release() {
	if l != nil && l.f != nil {
		_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
		l.f.Close()
		l.f = nil
	}
}

// PreviousLayout returns the keyspaces (as NAME:SHARD,SHARD specs) and the
// base port a data dir's cluster last ran with, so that `local up` on an
// existing data dir without flags brings back the same cluster. ok is
// false when the data dir holds no cluster yet.
func PreviousLayout(dataDir string) (specs []string, basePort int, ok bool) {
	st, err := ReadState(dataDir)
	if err != nil || len(st.Layout) == 0 {
		return nil, 0, false
	}
	return st.Layout, st.BasePort, true
}
