package mysqld

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pollInterval is how often StopDataDir and Start look again.
const pollInterval = 20 * time.Millisecond

// Running reports whether a live mariadbd owns dataDir (a Config.DataDir),
// and its pid. It believes the pid file only when that pid is a running
// mariadbd or mysqld started for this data dir, so a stale pid file (after a
// crash or a kill) reads as not running even if its pid has been reused.
func Running(dataDir string) (pid int, ok bool) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return 0, false
	}
	pid, err = readPidFile(filepath.Join(abs, pidName))
	if err != nil || !serves(pid, filepath.Join(abs, dataName)) {
		return 0, false
	}
	return pid, true
}

// StopDataDir stops the mariadbd that runs for dataDir according to its pid
// file, from any process: SIGTERM, wait until it has exited or ctx is done,
// then SIGKILL and wait until it is gone. No pid file, or one whose process
// is not a live server for dataDir, is not an error: there is nothing to stop.
// Like Process.Stop it returns an error wrapping ctx.Err() when the server
// had to be killed.
func StopDataDir(ctx context.Context, dataDir string) error {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return fmt.Errorf("mysqld: stop %s: %w", dataDir, err)
	}
	pid, ok := Running(abs)
	if !ok {
		return nil
	}
	datadir := filepath.Join(abs, dataName)
	gone := func() bool { return !serves(pid, datadir) }
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("mysqld: stop %s: pid %d: %w", abs, pid, err)
	}
	if waitUntil(ctx, gone) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("mysqld: stop %s: pid %d: %w", abs, pid, err)
	}
	waitUntil(context.Background(), gone) // SIGKILL cannot be refused
	removePidFile(filepath.Join(abs, pidName), pid)
	return fmt.Errorf("mysqld: stop %s: pid %d did not shut down in time and was killed: %w", abs, pid, ctx.Err())
}

// waitUntil polls cond until it holds (true) or ctx is done (false).
func waitUntil(ctx context.Context, cond func() bool) bool {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return cond()
		case <-t.C:
		}
	}
	return true
}

func readPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("mysqld: pid file %s holds no pid", path)
	}
	return pid, nil
}

// removePidFile removes the pid file if it still names pid: a server killed
// with SIGKILL leaves it behind.
func removePidFile(path string, pid int) {
	if p, err := readPidFile(path); err == nil && p == pid {
		_ = os.Remove(path)
	}
}

// serves reports whether pid is a live (not zombie) mariadbd or mysqld whose
// command line has --datadir=datadir, as Start writes it. Without /proc
// (not Linux) it can only check that pid is alive.
func serves(pid int, datadir string) bool {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		err := syscall.Kill(pid, 0)
		return err == nil || errors.Is(err, syscall.EPERM)
	}
	proc := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(proc + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain ") ".
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X' {
		return false
	}
	cmdline, err := os.ReadFile(proc + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	switch filepath.Base(args[0]) {
	case "mariadbd", "mysqld":
	default:
		return false
	}
	for _, a := range args[1:] {
		if dir, ok := strings.CutPrefix(a, "--datadir="); ok && sameDir(dir, datadir) {
			return true
		}
	}
	return false
}

// sameDir reports whether paths a and b name the same directory, also when
// one of them goes through a symbolic link.
func sameDir(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}
