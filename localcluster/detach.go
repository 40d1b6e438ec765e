package localcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// SupervisorLog is the log of a detached supervisor, under DataDir/logs.
const SupervisorLog = "supervisor.log"

// Detach runs a cluster in the background: it starts argv (normally
// shardctl re-executing itself as the supervisor, which calls Up and then
// waits for SIGTERM) in a session of its own with its output appended to
// DataDir/logs/supervisor.log, and waits until the cluster that process
// starts serves, as its state file says. If the supervisor exits first, the
// error carries the end of its log; if ctx ends first, the supervisor is
// told to stop and Detach waits for it. The supervisor outlives the
// calling process; `Down` stops it.
func Detach(ctx context.Context, dataDir string, argv []string) (*State, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("local cluster: no supervisor command")
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	if locked(abs) {
		return nil, alreadyRunning(abs)
	}
	logDir := filepath.Join(abs, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, SupervisorLog)
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	var offset int64
	if fi, err := logFile.Stat(); err == nil {
		offset = fi.Size()
	}
	fmt.Fprintf(logFile, "=== %s: %s\n", time.Now().Format(time.RFC3339), strings.Join(argv, " "))

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the supervisor %s: %w", argv[0], err)
	}
	pid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return nil, fmt.Errorf("the supervisor (pid %d) exited before the cluster served (%v); last lines of %s:\n%s",
				pid, err, logPath, tailFile(logPath, offset, 25))
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(supervisorStopGrace):
				_ = cmd.Process.Kill()
				<-done
			}
			return nil, fmt.Errorf("the cluster did not serve in time (%w); it was stopped again. Last lines of %s:\n%s",
				ctx.Err(), logPath, tailFile(logPath, offset, 25))
		case <-tick.C:
		}
		if st, err := ReadState(abs); err == nil && st.Supervisor.PID == pid && st.Status == StatusServing {
			return st, nil
		}
	}
}
