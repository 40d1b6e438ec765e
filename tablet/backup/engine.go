package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/shardgate/shardgate/internal/units"
	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/tablet/backupstore"
	"github.com/shardgate/shardgate/tablet/mysqld"
)

// Config is what the backup engine of one tablet needs.
type Config struct {
	Alias, Keyspace, Shard string
	// Database is the shard's database on the server (the keyspace name).
	Database string
	// Storage is the backup store's URL (backupstore.Open).
	Storage string
	// MySQL reaches the tablet's server as an administrator.
	MySQL MySQL
	// Mysqld, when set, is the tablet's own local server: the engine may
	// stop, initialize and start it (physical restores; a tablet that starts
	// on an empty data directory). Nil: the server is run by someone else.
	Mysqld *mysqld.Config
	// StateDir is the tablet's own directory for what must outlive it: a
	// restore that has not finished (restore-pending.json), scratch
	// servers and downloads (see state.go). Empty: shardgate-backup-<alias>
	// in the system's temporary directory.
	StateDir string
	// Workers read or load tables in parallel (each on its own connection).
	Workers int
	// ChunkBytes is the uncompressed size at which a table's rows are cut
	// into a new chunk.
	ChunkBytes int
	// ArchiveInterval is how often closed binlog files are looked for and
	// archived; 0 disables archiving.
	ArchiveInterval time.Duration
	// RotateInterval rotates the binlog (FLUSH BINARY LOGS) once the current
	// file is older than this and holds transactions, so that no more than
	// about this much history waits unarchived; 0 never rotates.
	RotateInterval time.Duration
	// Version is the shardtablet version recorded in manifests.
	Version string
}

// Defaults returns a Config with the tunables set.
func Defaults() Config {
	return Config{
		Workers:         2,
		ChunkBytes:      16 << 20,
		ArchiveInterval: 10 * time.Second,
		RotateInterval:  5 * time.Minute,
		Version:         "dev",
	}
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Alias == "" || c.Keyspace == "" || c.Shard == "" || c.Database == "":
		return errors.New("backup: alias, keyspace, shard and database must be set")
	case c.Storage == "":
		return errors.New("backup: no storage URL")
	case c.Workers < 1:
		return fmt.Errorf("backup: workers must be at least 1, got %d", c.Workers)
	case c.ChunkBytes < 1<<10:
		return fmt.Errorf("backup: chunk size %d is below 1 KiB", c.ChunkBytes)
	}
	return nil
}

// Engine backs up, restores and verifies one tablet's shard and archives
// its binlogs. One backup, restore or verification runs at a time; its
// methods may be called concurrently and wait their turn.
type Engine struct {
	cfg   Config
	log   *zap.Logger
	store *backupstore.Store
	shard backupstore.Shard
	m     *metrics

	opMu    sync.Mutex                 // held by the running operation
	current atomic.Pointer[progress]   // the running operation, nil when none
	last    atomic.Pointer[lastResult] // the last operation's outcome

	// Hooks are set by the tablet before Start.
	Hooks Hooks

	archiveMu   sync.Mutex      // held while archiving binlogs
	archived    map[string]bool // keys of archived binlogs, under archiveMu
	archiveOnce sync.Once
	archiveKick chan struct{}
	stop        chan struct{}
	done        sync.WaitGroup
}

// Hooks connect the engine to the rest of the tablet.
type Hooks struct {
	// SetServing turns the tablet's query service off (with a reason
	// reported in its health) while the shard is restored in place, and
	// on again once the restore succeeds. A restore that fails after it
	// began to change the shard leaves it off, with the reason.
	SetServing func(serving bool, reason string)
	// Archives, when set, says whether this tablet archives the shard's
	// binlogs now: only its primary does, as its binlog is the shard's
	// history (a replica's holds the same transactions in files of its
	// own, which would overlap the primary's in the store).
	Archives func() bool
}

type lastResult struct {
	op, detail string
	err        error
	at         time.Time
}

// New opens the backup store and returns an engine; Start begins binlog
// archiving, Close ends it. It removes what a tablet that died left in the
// state directory: scratch servers (stopped first) and downloads.
func New(ctx context.Context, cfg Config, log *zap.Logger, reg prometheus.Registerer) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(os.TempDir(), "shardgate-backup-"+cfg.Alias)
	}
	var err error
	if cfg.StateDir, err = filepath.Abs(cfg.StateDir); err != nil {
		return nil, fmt.Errorf("backup state directory: %w", err)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("backup state directory: %w", err)
	}
	removeLeftovers(ctx, cfg.StateDir, log)
	store, err := backupstore.Open(ctx, cfg.Storage)
	if err != nil {
		return nil, err
	}
	return &Engine{
		cfg: cfg, log: log.Named("backup"), store: store,
		shard: store.Shard(cfg.Keyspace, cfg.Shard),
		m:     newMetrics(cfg.Keyspace, cfg.Shard, reg),
		stop:  make(chan struct{}),
	}, nil
}

// Start runs binlog archiving in the background until Close.
func (e *Engine) Start() {
	if e.cfg.ArchiveInterval <= 0 {
		return
	}
	e.done.Add(1)
	go e.archiveLoop()
}

// Close stops archiving and releases the store. A running operation is
// not waited for: cancel its context.
func (e *Engine) Close() error {
	select {
	case <-e.stop:
		return nil
	default:
	}
	close(e.stop)
	e.done.Wait()
	return e.store.Close()
}

// StorageURL is the store's URL without credentials.
func (e *Engine) StorageURL() string { return e.store.URL() }

// begin takes the operation lock and registers p as the running
// operation; the returned function records the outcome and releases it.
func (e *Engine) begin(ctx context.Context, p *progress) (func(detail string, err error), error) {
	locked := make(chan struct{})
	go func() { e.opMu.Lock(); close(locked) }()
	select {
	case <-locked:
	case <-ctx.Done():
		go func() { <-locked; e.opMu.Unlock() }()
		return nil, fmt.Errorf("waiting for the running %s to finish: %w", e.currentOp(), ctx.Err())
	}
	e.current.Store(p)
	e.m.running.WithLabelValues(p.op).Set(1)
	stopGauge := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopGauge:
				return
			case <-t.C:
				e.m.progress.WithLabelValues(p.op).Set(p.fraction())
			}
		}
	}()
	return func(detail string, err error) {
		close(stopGauge)
		result := "ok"
		if err != nil {
			result = "error"
			e.log.Error(p.op+" failed", zap.Error(err), zap.Duration("took", time.Since(p.started)))
		} else {
			e.m.lastSuccess.WithLabelValues(p.op).SetToCurrentTime()
			e.m.progress.WithLabelValues(p.op).Set(1)
			e.log.Info(p.op+" done", zap.String("detail", detail), zap.Duration("took", time.Since(p.started)))
		}
		e.m.operations.WithLabelValues(p.op, result).Inc()
		e.m.running.WithLabelValues(p.op).Set(0)
		e.last.Store(&lastResult{op: p.op, detail: detail, err: err, at: time.Now()})
		e.current.Store(nil)
		e.opMu.Unlock()
	}, nil
}

func (e *Engine) currentOp() string {
	if p := e.current.Load(); p != nil {
		return p.op
	}
	return "operation"
}

// Current returns the running operation's progress, or nil.
func (e *Engine) Current() *backuppb.Progress {
	p := e.current.Load()
	if p == nil {
		return nil
	}
	pr := p.snapshot()
	pr.Message = p.op
	return pr
}

// Status describes the running operation and the last one, for
// /debug/status.
func (e *Engine) Status() string {
	s := "backup storage: " + e.store.URL() + "\n"
	if p := e.current.Load(); p != nil {
		pr := p.snapshot()
		s += fmt.Sprintf("running: %s, %s: %d/%d tables, %d rows, %s, %.0f%%, elapsed %s, eta %s\n",
			p.op, pr.Phase, pr.TablesDone, pr.TablesTotal, pr.RowsDone, units.Bytes(pr.BytesDone),
			100*p.fraction(), time.Duration(pr.ElapsedSeconds*float64(time.Second)).Round(time.Second), eta(pr.EtaSeconds))
	}
	if l := e.last.Load(); l != nil {
		outcome := "ok: " + l.detail
		if l.err != nil {
			outcome = "failed: " + l.err.Error()
		}
		s += fmt.Sprintf("last: %s at %s %s\n", l.op, l.at.UTC().Format(time.RFC3339), outcome)
	}
	if desc, ok := e.RestorePending(); ok {
		s += "restore pending: " + desc + "\n"
	}
	return s
}

func eta(s float64) string {
	if s < 0 {
		return "unknown"
	}
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}

// zstd encoders and decoders are safe for concurrent EncodeAll/DecodeAll.
// The fastest level: at the default level compression alone runs at about
// a third of the speed (BenchmarkChunkEncode) and becomes what a backup
// waits for on a small machine, for a 20% smaller backup.
var (
	encoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	decoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30))
)
