package localcluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procOf identifies a live process by pid and start time.
func procOf(pid int) Proc {
	start, _ := procStart(pid)
	return Proc{PID: pid, Start: start}
}

// procStart reads a process's start time (field 22 of /proc/<pid>/stat)
// and fails for a process that is gone or a zombie.
func procStart(pid int) (uint64, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces and ")".
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	fields := strings.Fields(string(stat[i+1:]))
	// fields[0] is the state (field 3), so field 22 is fields[19].
	if len(fields) < 20 {
		return 0, errors.New("malformed stat")
	}
	if fields[0] == "Z" || fields[0] == "X" {
		return 0, errors.New("zombie")
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// Alive reports whether the process still runs: the pid exists, is not a
// zombie, and started when recorded (so it is not a reused pid).
func (p Proc) Alive() bool {
	if p.PID <= 0 {
		return false
	}
	start, err := procStart(p.PID)
	return err == nil && (p.Start == 0 || start == p.Start)
}

// stopProc stops a process that is not our child: SIGTERM, wait up to
// grace for it to go, then SIGKILL and wait until it is gone. It reports
// whether it had to kill.
func stopProc(p Proc, grace time.Duration) (killed bool) {
	if !p.Alive() {
		return false
	}
	_ = syscall.Kill(p.PID, syscall.SIGTERM)
	if waitGone(p, grace) {
		return false
	}
	_ = syscall.Kill(p.PID, syscall.SIGKILL)
	waitGone(p, 30*time.Second) // SIGKILL cannot be refused
	return true
}

// waitGone polls until p is no longer alive or d has passed.
func waitGone(p Proc, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for p.Alive() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// child is a process the supervisor started: a tablet or the gate.
type child struct {
	part Part
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited and been reaped
	err  error         // how it exited; read after done
	// logStart is the log's size before the process started, so that an
	// error shows this run's lines only.
	logStart int64
}

// startChild starts bin in its own session (Ctrl-C in the supervisor's
// terminal does not reach it: the supervisor stops it in order), with
// stdout and stderr appended to part.Log and env added to ours.
func startChild(part Part, bin string, args []string, env ...string) (*child, error) {
	var fullEnv []string
	if len(env) > 0 {
		fullEnv = append(os.Environ(), env...)
	}
	return startCmd(part, exec.Command(bin, args...), fullEnv)
}

// startCmd starts cmd as startChild does, with env as its whole
// environment (nil: ours).
func startCmd(part Part, cmd *exec.Cmd, env []string) (*child, error) {
	logFile, err := os.OpenFile(part.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own copy
	var logStart int64
	if fi, err := logFile.Stat(); err == nil {
		logStart = fi.Size()
	}
	fmt.Fprintf(logFile, "=== %s: %s\n", time.Now().Format(time.RFC3339), strings.Join(cmd.Args, " "))
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", part.Name, err)
	}
	c := &child{cmd: cmd, done: make(chan struct{}), logStart: logStart}
	part.Proc = procOf(cmd.Process.Pid)
	c.part = part
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// exitError says that the child exited and shows the end of its log.
func (c *child) exitError() error {
	return fmt.Errorf("%s exited (%v); last lines of %s:\n%s", c.part.Name, c.err, c.part.Log, tailFile(c.part.Log, c.logStart, 20))
}

// stop sends SIGTERM, waits up to grace, then SIGKILL; it returns once the
// process is gone.
func (c *child) stop(grace time.Duration) (killed bool) {
	if c.exited() {
		return false
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return false
	case <-time.After(grace):
	}
	_ = c.cmd.Process.Kill()
	<-c.done
	return true
}

// tailFile returns the last n lines of path from offset on.
func tailFile(path string, offset int64, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	defer f.Close()
	const maxRead = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size()-offset > maxRead {
		offset = fi.Size() - maxRead
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return "  (" + err.Error() + ")"
	}
	data, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return "  (empty)"
	}
	return "  " + strings.Join(lines, "\n  ")
}
