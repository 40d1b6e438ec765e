package mysqld

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
)

// ErrAlreadyRunning is returned (wrapped) by Start when a live mariadbd
// already owns the data dir. Start does not attach to it: use Running to find
// it and StopDataDir to stop it.
var ErrAlreadyRunning = errors.New("mysqld: a server is already running for this data dir")

// Process is a mariadbd started by Start. Its methods may be called from
// several goroutines.
type Process struct {
	cfg  Config
	proc *os.Process
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // how it exited; read only after done is closed
}

// Start launches mariadbd for cfg on a data dir made by Init and returns once
// the server answers queries as root over TCP on 127.0.0.1:Port.
//
// The server is detached: it runs in its own session with stdout and stderr
// appended to DataDir/error.log, and keeps running when the calling process
// exits. ctx bounds only the wait for the server to come up (pass a
// deadline); it never stops the server once started. When the server does
// not come up (it exits, or ctx is done first), Start kills it and returns an
// error that ends with the last 20 lines of error.log.
//
// When a live server already owns DataDir, Start returns an error wrapping
// ErrAlreadyRunning.
//
// A server started with RecoverAsReplica whose crash recovery refuses to
// cut its binlog (see Config.RecoverAsReplica) is started again recovering as a
// primary.
func Start(ctx context.Context, cfg Config) (*Process, error) {
	cfg, err := cfg.resolved()
	if err != nil {
		return nil, err
	}
	p, err := start(ctx, cfg)
	if err != nil && cfg.RecoverAsReplica && ctx.Err() == nil && strings.Contains(err.Error(), truncateRefused) {
		// MariaDB will not cut a binlog tail that holds a change it cannot
		// roll back (a non-transactional table's after the first
		// uncommitted transaction), and stops, leaving the prepared
		// transactions as they were. Recovering as a primary commits them:
		// the server starts, and they show as errant transactions instead
		// of a server that does not start at all.
		cfg.Log.Warn("mysqld: crash recovery cannot cut the binlog tail it never committed: recovering as a primary instead",
			zap.String("datadir", cfg.DataDir), zap.Error(err))
		cfg.RecoverAsReplica = false
		return start(ctx, cfg)
	}
	return p, err
}

// truncateRefused begins MariaDB's error when its semi-sync slave
// recovery finds the binlog unsafe to truncate.
const truncateRefused = "Cannot truncate the binary log"

// start is Start for a resolved cfg.
func start(ctx context.Context, cfg Config) (*Process, error) {
	if pid, ok := Running(cfg.DataDir); ok {
		return nil, fmt.Errorf("%w: mariadbd pid %d owns %s", ErrAlreadyRunning, pid, cfg.DataDir)
	}
	if state, err := datadirState(cfg.ServerDataDir()); err != nil {
		return nil, err
	} else if state != datadirReady {
		return nil, fmt.Errorf("mysqld: start: %s is not an initialized data directory: call Init first", cfg.ServerDataDir())
	}
	for _, dir := range []string{cfg.BinlogDir(), filepath.Join(cfg.DataDir, relayName), filepath.Join(cfg.DataDir, tmpName), filepath.Join(cfg.DataDir, filesName)} {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("mysqld: start: %w", err)
		}
	}
	logFile, err := os.OpenFile(cfg.ErrorLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("mysqld: start: %w", err)
	}
	defer logFile.Close() // the child has its own copy
	account, whyRoot, err := runAs(cfg)
	if err != nil {
		return nil, err
	}
	if whyRoot != "" {
		cfg.Log.Warn("mysqld: the server runs as root, so a statement that reaches it past the gate could read and write the host's files: "+whyRoot,
			zap.String("datadir", cfg.DataDir))
	}

	// exec.Command, not CommandContext: ctx must not kill the server.
	cmd := exec.Command(cfg.Binary, serverArgs(cfg, account)...)
	cmd.Dir = cfg.DataDir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("mysqld: start %s: %w", cfg.Binary, err)
	}
	p := &Process{cfg: cfg, proc: cmd.Process, done: make(chan struct{})}
	// Reap the child as soon as it exits, whoever stops it (Stop,
	// StopDataDir, a crash), so it never lingers as a zombie.
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	log := cfg.Log.With(zap.Int("pid", p.Pid()), zap.String("datadir", cfg.DataDir), zap.Int("port", cfg.Port))

	if err := p.waitReady(ctx); err != nil {
		_ = p.proc.Kill()
		<-p.done
		removePidFile(cfg.PidFile(), p.Pid())
		return nil, fmt.Errorf("mysqld: start %s on port %d: %w\nlast lines of %s:\n%s",
			cfg.DataDir, cfg.Port, err, cfg.ErrorLog(), lastLinesOfFile(cfg.ErrorLog(), 20))
	}
	log.Info("mysqld: started", zap.Duration("took", time.Since(began)))
	return p, nil
}

// waitReady polls the server over TCP as root until it answers, it exits, or
// ctx is done. It asks for @@datadir, which proves both that the server
// answers queries and that it is ours, not another server on the same port.
func (p *Process) waitReady(ctx context.Context) error {
	mc := p.cfg.driverConfig("tcp", p.cfg.Addr(), "")
	mc.Timeout = time.Second
	mc.ReadTimeout = 2 * time.Second
	mc.Logger = nopLogger{} // connection resets while the server starts are expected
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	db.SetMaxIdleConns(0)

	// An attempt may hang on something else listening on the port: abandon
	// it as soon as our server exits.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()

	want := p.cfg.ServerDataDir()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		var datadir string
		err := db.QueryRowContext(attempt, "SELECT @@datadir").Scan(&datadir)
		cancelAttempt()
		if err == nil {
			if !sameDir(datadir, want) {
				return fmt.Errorf("another server, with datadir %s, answers on %s", datadir, p.cfg.Addr())
			}
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("mariadbd exited while starting: %v", p.err)
		case <-ctx.Done():
			select {
			case <-p.done:
				return fmt.Errorf("mariadbd exited while starting: %v", p.err)
			default:
			}
			return fmt.Errorf("not ready (last attempt: %v): %w", err, ctx.Err())
		case <-t.C:
		}
	}
}

// Pid is the server's process id.
func (p *Process) Pid() int { return p.proc.Pid }

// Config is the configuration the server was started with, with DataDir
// made absolute and Binary filled in.
func (p *Process) Config() Config { return p.cfg }

// Done is closed when the server process has exited, for whatever reason.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop shuts the server down cleanly: SIGTERM, then wait until it has exited
// or ctx is done; in the latter case SIGKILL and wait until it is gone.
// Stop returns once the process no longer exists: nil after a clean shutdown
// (or when it had already exited), an error wrapping ctx.Err() when it had to
// be killed. Without a deadline on ctx, Stop waits as long as the shutdown
// takes. Stop may be called more than once.
func (p *Process) Stop(ctx context.Context) error {
	log := p.cfg.Log.With(zap.Int("pid", p.Pid()), zap.String("datadir", p.cfg.DataDir))
	select {
	case <-p.done:
		if p.err != nil {
			log.Debug("mysqld: already exited", zap.Error(p.err))
		}
		return nil
	default:
	}
	began := time.Now()
	_ = p.proc.Signal(syscall.SIGTERM) // fails only if it has just exited
	select {
	case <-p.done:
		log.Info("mysqld: stopped", zap.Duration("took", time.Since(began)))
		return nil
	case <-ctx.Done():
	}
	_ = p.proc.Kill()
	<-p.done
	removePidFile(p.cfg.PidFile(), p.Pid())
	log.Warn("mysqld: killed after shutdown timeout", zap.Duration("took", time.Since(began)))
	return fmt.Errorf("mysqld: stop %s: pid %d did not shut down in time and was killed: %w", p.cfg.DataDir, p.Pid(), ctx.Err())
}

// nopLogger silences go-sql-driver/mysql's connection error messages.
type nopLogger struct{}

func (nopLogger) Print(...any) {}
