package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/tablet/mysqld"
)

// The engine's state directory (Config.StateDir) holds what must be found
// again after the tablet dies:
//
//	restore-pending.json  a whole-shard restore that began to change the
//	                      shard and has not succeeded
//	scratch/<name>        scratch servers, or links to them when the
//	                      directory is too deep for a unix socket
//	tmp/                  downloaded binlogs, mariadb-backup's files
//
// New removes what scratch/ and tmp/ hold: a tablet that died left it.
//
// A whole-shard restore in place, and the restore of a new server, write
// restore-pending.json before their first destructive step and remove it
// only once they succeed. While it exists the shard is incomplete: the
// tablet does not serve, refuses backups, and a tablet that starts finds
// it and restores again (ResumeRestore) before it serves. That covers a
// restore interrupted by a crash, a store that went away, or an operator
// who cancelled it, whichever process dies.
const (
	pendingName = "restore-pending.json"
	scratchName = "scratch"
	tmpName     = "tmp"
)

// pendingRestore is the content of restore-pending.json.
type pendingRestore struct {
	// NewServer: the restore of a newly initialized server to the latest
	// archived moment (auto-restore). Otherwise Request is the operator's
	// restore, in protojson.
	NewServer bool            `json:"new_server,omitempty"`
	Request   json.RawMessage `json:"request,omitempty"`
	Since     time.Time       `json:"since"`
	Attempts  int             `json:"attempts"`
	LastError string          `json:"last_error,omitempty"`
}

func (e *Engine) pendingPath() string { return filepath.Join(e.cfg.StateDir, pendingName) }

// readPending returns the pending restore, or nil when there is none. A
// file that cannot be read is an error: the shard may be incomplete.
func (e *Engine) readPending() (*pendingRestore, error) {
	data, err := os.ReadFile(e.pendingPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pending restore: %w", err)
	}
	pr := &pendingRestore{}
	if err := json.Unmarshal(data, pr); err != nil {
		return nil, fmt.Errorf("pending restore %s: %w (remove it once the shard is known to be whole)", e.pendingPath(), err)
	}
	return pr, nil
}

// writePending replaces restore-pending.json whole (write, sync, rename).
func (e *Engine) writePending(pr *pendingRestore) error {
	data, err := json.MarshalIndent(pr, "", "  ")
	if err != nil {
		return err
	}
	tmp := e.pendingPath() + ".new"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("record the pending restore: %w", err)
	}
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, e.pendingPath())
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("record the pending restore: %w", err)
	}
	return nil
}

// markPending records, before a restore's first destructive step, that
// it has begun: req is the operator's restore, nil the restore of a new
// server. A restore of the same kind already pending (this one, resumed)
// keeps its start time and counts one more attempt.
func (e *Engine) markPending(req *backuppb.RestoreRequest, newServer bool) error {
	pr := &pendingRestore{NewServer: newServer, Since: time.Now().UTC()}
	if req != nil && !newServer {
		data, err := protojson.Marshal(req)
		if err != nil {
			return err
		}
		pr.Request = data
	}
	if old, err := e.readPending(); err == nil && old != nil && old.NewServer == newServer {
		pr.Since, pr.Attempts, pr.LastError = old.Since, old.Attempts, old.LastError
	}
	pr.Attempts++
	return e.writePending(pr)
}

// MarkNewServer records that the tablet is about to initialize a new data
// directory for its server, into which the shard must be restored: call it
// before initializing. Until AutoRestore (or ResumeRestore) succeeds the
// shard counts as incomplete, also across restarts of the tablet, whose
// server is by then initialized and running.
func (e *Engine) MarkNewServer() error {
	return e.writePending(&pendingRestore{NewServer: true, Since: time.Now().UTC()})
}

// notePendingFailure records why the pending restore failed, for status
// pages and the next attempt's logs. Nothing pending: nothing to do.
func (e *Engine) notePendingFailure(cause error) {
	pr, err := e.readPending()
	if err != nil || pr == nil {
		return
	}
	pr.LastError = cause.Error()
	if err := e.writePending(pr); err != nil {
		e.log.Warn("could not record the failure of the pending restore", zap.Error(err))
	}
}

// clearPending removes restore-pending.json once the restore succeeded.
func (e *Engine) clearPending() error {
	if err := os.Remove(e.pendingPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", e.pendingPath(), err)
	}
	return nil
}

// RestorePending reports whether a whole-shard restore began to change the
// shard and has not succeeded (the shard is incomplete), and describes it.
func (e *Engine) RestorePending() (string, bool) {
	pr, err := e.readPending()
	if err != nil {
		return err.Error(), true
	}
	if pr == nil {
		return "", false
	}
	return pr.describe(e.pendingPath()), true
}

func (pr *pendingRestore) describe(path string) string {
	what := "the restore of a new server (the latest backup and archived binlogs)"
	if !pr.NewServer {
		var req bytes.Buffer
		if json.Compact(&req, pr.Request) != nil {
			req.Reset()
			req.Write(pr.Request)
		}
		what = "the whole-shard restore " + req.String()
	}
	s := fmt.Sprintf("%s, begun %s, %d attempts", what, pr.Since.Format(time.RFC3339), pr.Attempts)
	if pr.LastError != "" {
		s += ", last error: " + pr.LastError
	}
	return s + " (recorded in " + path + ")"
}

// setServing calls the SetServing hook when the tablet set one (not while
// it starts: it serves only after a pending restore succeeded).
func (e *Engine) setServing(on bool, reason string) {
	if e.Hooks.SetServing != nil {
		e.Hooks.SetServing(on, reason)
	}
}

// tmpDir returns the state directory's tmp/, for downloads.
func (e *Engine) tmpDir() (string, error) {
	dir := filepath.Join(e.cfg.StateDir, tmpName)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	return dir, nil
}

// newScratchDir makes a directory for a scratch server under the state
// directory's scratch/. When it is too deep for the server's unix socket,
// the directory is made in the system's temporary directory instead and
// linked from scratch/, so that a tablet that dies still finds it. remove
// deletes both.
func (e *Engine) newScratchDir() (dir string, remove func(), err error) {
	root := filepath.Join(e.cfg.StateDir, scratchName)
	if err := os.MkdirAll(root, 0o750); err != nil {
		return "", nil, err
	}
	dir, err = os.MkdirTemp(root, "s")
	if err != nil {
		return "", nil, err
	}
	if (mysqld.Config{DataDir: dir, Port: 1, ServerID: 1}).Validate() == nil {
		return dir, func() { _ = os.RemoveAll(dir) }, nil
	}
	link := dir
	if err := os.Remove(link); err != nil {
		return "", nil, err
	}
	short, err := os.MkdirTemp("", "sgscratch")
	if err != nil {
		return "", nil, err
	}
	if err := os.Symlink(short, link); err != nil {
		_ = os.RemoveAll(short)
		return "", nil, err
	}
	return short, func() { _ = os.RemoveAll(short); _ = os.Remove(link) }, nil
}

// removeLeftovers stops the scratch servers a dead tablet left in
// stateDir and removes them and its downloads.
func removeLeftovers(ctx context.Context, stateDir string, log *zap.Logger) {
	_ = os.RemoveAll(filepath.Join(stateDir, tmpName))
	root := filepath.Join(stateDir, scratchName)
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, ent := range entries {
		path := filepath.Join(root, ent.Name())
		dir := path
		if ent.Type()&fs.ModeSymlink != 0 {
			if dir, err = os.Readlink(path); err != nil {
				_ = os.Remove(path)
				continue
			}
		}
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		if pid, ok := mysqld.Running(dir); ok {
			log.Info("stopping a scratch server a previous run left", zap.Int("pid", pid), zap.String("dir", dir))
		}
		if err := mysqld.StopDataDir(sctx, dir); err != nil {
			log.Warn("could not stop a leftover scratch server", zap.String("dir", dir), zap.Error(err))
		}
		cancel()
		_ = os.RemoveAll(dir)
		_ = os.Remove(path)
	}
}
