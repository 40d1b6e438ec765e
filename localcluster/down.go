package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/tablet/mysqld"
)

// supervisorStopGrace is how long Down lets the supervisor stop the cluster
// in order before it kills what is left itself.
const supervisorStopGrace = 2 * time.Minute

// Down stops the local cluster in dataDir from any process and returns once
// no process of it is left.
//
// When its supervisor runs, Down asks it to stop (SIGTERM), and the
// supervisor stops the parts in order. Whatever still runs after that, or
// after a supervisor that crashed, is stopped by Down itself from the state
// file: gate and tablets by pid (checked against their recorded start time,
// so a reused pid is never signalled), mariadbds with
// mysqld.StopDataDir, and the supervisor (holding etcd) last. A data dir
// with nothing running is not an error. The process that runs the cluster
// (Up's caller) must use Cluster.Close instead.
func Down(ctx context.Context, dataDir string, log *zap.Logger) error {
	if log == nil {
		log = zap.NewNop()
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	st, err := ReadState(abs)
	if err != nil {
		return err
	}
	if st.Supervisor.PID == os.Getpid() && locked(abs) {
		return errors.New("local cluster: this process supervises the cluster: use Cluster.Close, not Down")
	}
	lock, err := stopSupervisor(ctx, abs, st.Supervisor, log)
	if err != nil {
		return fmt.Errorf("local cluster in %s: %w", abs, err)
	}
	defer lock.release()

	// The supervisor is gone. Stop whatever it left behind.
	if st, err = ReadState(abs); err != nil {
		return err
	}
	var problems []string
	for _, kind := range []string{KindGate, KindTablet, KindMySQLd} {
		problems = append(problems, stopParts(ctx, st.Parts, kind, log)...)
	}
	if alive := stillRunning(st.Parts); len(alive) > 0 {
		return fmt.Errorf("local cluster in %s: still running after stop: %s", abs, strings.Join(alive, ", "))
	}
	if err := markStopped(abs, st); err != nil {
		return err
	}
	for _, p := range problems {
		log.Warn("local cluster: " + p)
	}
	return nil
}

// stopSupervisor asks a running supervisor to stop everything in order
// (SIGTERM), kills it if it does not within supervisorStopGrace, and
// returns the data dir's lock, which it releases last. With no supervisor
// running, it just takes the lock.
func stopSupervisor(ctx context.Context, abs string, sup Proc, log *zap.Logger) (*dirLock, error) {
	lock, err := tryLock(abs)
	if !errors.Is(err, errLocked) {
		return lock, err
	}
	if sup.Alive() {
		log.Info("asking the supervisor to stop the cluster", zap.Int("pid", sup.PID))
		_ = syscall.Kill(sup.PID, syscall.SIGTERM)
	}
	lock, err = waitLock(ctx, abs, supervisorStopGrace)
	if err != nil && sup.Alive() {
		log.Warn("the supervisor did not stop in time; killing it", zap.Int("pid", sup.PID))
		stopProc(sup, 0)
		lock, err = waitLock(ctx, abs, 10*time.Second)
	}
	// It releases the lock just before it exits: wait for the exit too
	// (it was told to stop, so what keeps it is only the exiting).
	if err == nil && !waitGone(sup, processStopGrace) {
		stopProc(sup, 0)
	}
	return lock, err
}

// stopParts stops, all at once, the recorded parts of one kind that still
// run, and returns what did not go smoothly.
func stopParts(ctx context.Context, parts []Part, kind string, log *zap.Logger) []string {
	var mu sync.Mutex
	var problems []string
	var wg sync.WaitGroup
	for _, part := range parts {
		if part.Kind != kind {
			continue
		}
		wg.Go(func() {
			var problem string
			if part.Kind == KindMySQLd {
				problem = stopMySQLd(ctx, part, log)
			} else {
				problem = stopLeftover(part, log)
			}
			if problem != "" {
				mu.Lock()
				problems = append(problems, problem)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return problems
}

// stopMySQLd stops a recorded mariadbd through its data dir, and by its
// recorded pid if that leaves it running.
func stopMySQLd(ctx context.Context, part Part, log *zap.Logger) string {
	sctx, cancel := context.WithTimeout(ctx, mysqldStopGrace)
	defer cancel()
	var problems []string
	if err := mysqld.StopDataDir(sctx, part.Dir); err != nil {
		problems = append(problems, err.Error())
	}
	// The pid file can be missing or stale while the server lives; the
	// pid recorded with its start time still finds it.
	if part.Alive() {
		log.Info("stopping a mariadbd its pid file does not name", zap.String("part", part.Name), zap.Int("pid", part.PID))
		if stopProc(part.Proc, mysqldStopGrace) {
			problems = append(problems, fmt.Sprintf("%s (pid %d) did not stop within %v and was killed", part.Name, part.PID, mysqldStopGrace))
		}
	}
	return strings.Join(problems, "; ")
}

// stopLeftover stops a recorded gate or tablet that still runs.
func stopLeftover(part Part, log *zap.Logger) string {
	if !part.Alive() {
		return ""
	}
	log.Info("stopping a process left behind", zap.String("part", part.Name), zap.Int("pid", part.PID))
	if stopProc(part.Proc, processStopGrace) {
		return fmt.Sprintf("%s (pid %d) did not stop within %v and was killed", part.Name, part.PID, processStopGrace)
	}
	return ""
}

// stillRunning names the recorded parts that still run.
func stillRunning(parts []Part) []string {
	var alive []string
	for _, part := range parts {
		// Etcd ran in the supervisor, which is gone: it released the lock.
		if part.Kind != KindEtcd && part.Alive() {
			alive = append(alive, fmt.Sprintf("%s (pid %d)", part.Name, part.PID))
		}
		if part.Kind == KindMySQLd {
			if pid, ok := mysqld.Running(part.Dir); ok && pid != part.PID {
				alive = append(alive, fmt.Sprintf("%s (pid %d)", part.Name, pid))
			}
		}
	}
	return alive
}

// markStopped records in the state file that nothing runs (a failed
// cluster stays marked failed).
func markStopped(abs string, st *State) error {
	if st.Status == StatusStopped && len(st.Parts) == 0 {
		return nil
	}
	if st.Status != StatusFailed {
		st.Status = StatusStopped
	}
	st.Parts = nil
	return writeState(abs, st)
}

// waitLock waits until the data dir's lock is free and takes it.
func waitLock(ctx context.Context, dataDir string, d time.Duration) (*dirLock, error) {
	deadline := time.Now().Add(d)
	for {
		l, err := tryLock(dataDir)
		if !errors.Is(err, errLocked) {
			return l, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the supervisor still holds %s after %v", lockFileName, d)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// PartStatus is a part of the cluster and whether it runs.
type PartStatus struct {
	Part
	Alive bool
}

// StatusReport is what Status found.
type StatusReport struct {
	State *State
	// SupervisorAlive: the process that ran Up still runs (holds the
	// data dir's lock).
	SupervisorAlive bool
	Parts           []PartStatus
}

// Status reads the state file of the cluster in dataDir and checks which of
// its recorded parts are alive.
func Status(dataDir string) (*StatusReport, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	st, err := ReadState(abs)
	if err != nil {
		return nil, err
	}
	r := &StatusReport{State: st, SupervisorAlive: locked(abs) && st.Supervisor.Alive()}
	for _, part := range st.Parts {
		alive := part.Alive()
		if part.Kind == KindMySQLd {
			_, alive = mysqld.Running(part.Dir)
		}
		r.Parts = append(r.Parts, PartStatus{Part: part, Alive: alive})
	}
	return r, nil
}
