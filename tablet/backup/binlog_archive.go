package backup

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.uber.org/zap"

	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/tablet/backupstore"
)

// Binlog archiving copies each closed binlog file of the server to the
// store, compressed, with a description (positions, event times) written
// after it. The tablet reads the files from the server's binlog directory
// (@@log_bin_basename), so it must run on the server's host, as it does
// for physical backups.

// ArchiveSoon asks the archiver to look for closed binlog files now.
func (e *Engine) ArchiveSoon() {
	select {
	case e.archiveNow() <- struct{}{}:
	default:
	}
}

func (e *Engine) archiveNow() chan struct{} {
	e.archiveOnce.Do(func() { e.archiveKick = make(chan struct{}, 1) })
	return e.archiveKick
}

func (e *Engine) archiveLoop() {
	defer e.done.Done()
	t := time.NewTicker(e.cfg.ArchiveInterval)
	defer t.Stop()
	kick := e.archiveNow()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		case <-kick:
		}
		if e.Hooks.Archives != nil && !e.Hooks.Archives() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		go func() {
			select {
			case <-e.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		if _, _, err := e.archiveBinlogs(ctx, e.cfg.RotateInterval > 0, e.cfg.RotateInterval); err != nil {
			e.m.archiveErrors.Inc()
			e.log.Warn("binlog archiving failed; retrying later", zap.Error(err))
		}
		cancel()
	}
}

// ArchiveBinlogs archives every closed binlog file not archived yet; with
// flush it first closes the current file (FLUSH BINARY LOGS) when it holds
// transactions, so that everything written so far is archived. It returns
// the files archived now and the GTID position the archive reaches.
func (e *Engine) ArchiveBinlogs(ctx context.Context, flush bool) ([]*backuppb.BinlogArchive, string, error) {
	return e.archiveBinlogs(ctx, flush, 0)
}

// archiveBinlogs archives closed files; with rotate, it first closes the
// current one if it holds transactions and its first event is at least
// olderThan old.
func (e *Engine) archiveBinlogs(ctx context.Context, rotate bool, olderThan time.Duration) ([]*backuppb.BinlogArchive, string, error) {
	e.archiveMu.Lock()
	defer e.archiveMu.Unlock()
	db, err := e.cfg.MySQL.open("")
	if err != nil {
		return nil, "", err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	dir, files, err := binlogFiles(ctx, db)
	if err != nil {
		return nil, "", err
	}
	if rotate && len(files) > 0 {
		active := filepath.Join(dir, files[len(files)-1])
		if shouldRotate(active, olderThan) {
			if _, err := db.ExecContext(ctx, "FLUSH BINARY LOGS"); err != nil {
				return nil, "", fmt.Errorf("FLUSH BINARY LOGS: %w", err)
			}
			if dir, files, err = binlogFiles(ctx, db); err != nil {
				return nil, "", err
			}
		}
	}
	if e.archived == nil {
		// Files whose description cannot be read are not counted: they
		// are archived again, with a new description, while the server
		// still has them.
		entries, _, err := e.shard.ListBinlogs(ctx)
		if err != nil {
			return nil, "", err
		}
		e.archived = map[string]bool{}
		for _, a := range entries {
			e.archived[a.Key] = true
		}
	}
	var done []*backuppb.BinlogArchive
	reached := ""
	for _, f := range files[:max(0, len(files)-1)] { // the last one is being written
		path := filepath.Join(dir, f)
		sum, size, err := summarizeBinlogFile(path)
		if err != nil {
			return done, reached, err
		}
		reached = sum.end.String()
		key := backupstore.BinlogKey(sum.start, f)
		if e.archived[key] {
			continue
		}
		entry := &backuppb.BinlogArchive{
			File: f, ServerId: sum.serverID, StartPosition: sum.start.String(), EndPosition: sum.end.String(),
			FirstEventUnix: sum.first, LastEventUnix: sum.last, Transactions: sum.transactions,
			Size: size, ArchivedUnixNanos: time.Now().UnixNano(),
		}
		if err := e.shard.PutBinlog(ctx, entry, func(w io.Writer) error { return compressFile(path, w) }); err != nil {
			return done, reached, err
		}
		e.archived[key] = true
		e.m.binlogsArchived.Inc()
		e.m.binlogBytes.Add(float64(size))
		e.log.Info("binlog archived", zap.String("file", f), zap.String("start", entry.StartPosition),
			zap.String("end", entry.EndPosition), zap.Int64("transactions", entry.Transactions))
		done = append(done, entry)
	}
	return done, reached, nil
}

// summarizeBinlogFile summarizes a closed binlog file, streaming it.
func summarizeBinlogFile(path string) (*binlogSummary, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("read binlog %s (the tablet must run on its server's host): %w", path, err)
	}
	defer f.Close()
	sum, err := summarizeBinlog(bufio.NewReaderSize(f, 1<<20), 0)
	if err != nil {
		return nil, 0, fmt.Errorf("binlog %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	return sum, fi.Size(), nil
}

// compressFile writes the file at path to w compressed with zstd, in
// constant memory.
func compressFile(path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	if _, err := io.Copy(zw, f); err != nil {
		zw.Close()
		return err
	}
	return zw.Close()
}

// shouldRotate tells whether the active binlog file holds transactions and
// is at least olderThan old.
func shouldRotate(active string, olderThan time.Duration) bool {
	f, err := os.Open(active)
	if err != nil {
		return false
	}
	defer f.Close()
	sum, err := summarizeBinlog(f, 0)
	if err != nil || sum.transactions == 0 {
		return false
	}
	return time.Since(time.Unix(sum.first, 0)) >= olderThan
}

// binlogFiles returns the server's binlog directory and files, oldest
// first.
func binlogFiles(ctx context.Context, db *sql.DB) (string, []string, error) {
	var base sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT @@log_bin_basename").Scan(&base); err != nil {
		return "", nil, fmt.Errorf("binlog location: %w", err)
	}
	if !base.Valid || base.String == "" {
		return "", nil, fmt.Errorf("the server has no binary log: archiving needs log_bin")
	}
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return "", nil, fmt.Errorf("SHOW BINARY LOGS: %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var files []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "", nil, err
		}
		files = append(files, string(vals[0]))
	}
	return filepath.Dir(base.String), files, rows.Err()
}
