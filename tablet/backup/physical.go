package backup

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/tablet/backupstore"
	"github.com/shardgate/shardgate/tablet/mysqld"
)

// The physical engine streams `mariadb-backup --backup --stream=mbstream`
// into the store in compressed, checksummed pieces, and restores by
// unpacking them (mbstream -x), preparing the copy (mariadb-backup
// --prepare) and putting it in place of the server's data directory. It
// copies files rather than rows, so it is the faster choice for large
// shards; it restores whole shards only, and needs the tablet to run on
// its server's host.

// binlogInfoRE reads the binlog position mariadb-backup reports at the end
// of a backup.
var binlogInfoRE = regexp.MustCompile(`MySQL binlog position: filename '([^']*)', position '(\d+)', GTID of the last change '([^']*)'`)

func (e *Engine) physicalBackup(ctx context.Context, p *progress) (*backuppb.Manifest, error) {
	tool, err := findTool("mariadb-backup", "mariabackup")
	if err != nil {
		return nil, err
	}
	started := time.Now()
	name := backupstore.BackupName(started, e.cfg.Alias)
	log := e.log.With(zap.String("backup", name))
	log.Info("backup starting", zap.String("engine", "physical"), zap.String("storage", e.store.URL()))

	db, err := e.cfg.MySQL.open("")
	if err != nil {
		return nil, err
	}
	var datadir, version string
	var size int64
	err = db.QueryRowContext(ctx, "SELECT @@datadir, VERSION(), (SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES)").Scan(&datadir, &version, &size)
	if err == nil {
		_, err = db.ExecContext(ctx, "FLUSH BINARY LOGS")
	}
	db.Close()
	if err != nil {
		return nil, fmt.Errorf("prepare the physical backup: %w", err)
	}
	e.ArchiveSoon()
	p.setTotals(size, 0, 0)
	p.setPhase("copying files")

	tmpRoot, err := e.tmpDir()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(tmpRoot, "mariabackup")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	args := []string{"--no-defaults", "--backup", "--stream=mbstream", "--target-dir=" + tmp, "--datadir=" + datadir,
		"--user=" + e.cfg.MySQL.User, "--parallel=" + strconv.Itoa(e.cfg.Workers)}
	if e.cfg.MySQL.Socket != "" {
		args = append(args, "--socket="+e.cfg.MySQL.Socket)
	} else {
		args = append(args, "--host="+e.cfg.MySQL.Host, "--port="+strconv.Itoa(e.cfg.MySQL.Port))
	}
	cmd := exec.CommandContext(ctx, tool, args...)
	if e.cfg.MySQL.Password != "" {
		cmd.Env = append(os.Environ(), "MYSQL_PWD="+e.cfg.MySQL.Password)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", tool, err)
	}
	m := e.newManifest(name, "physical", started)
	m.MysqlVersion = version
	chunks, storeErr := e.storeStream(ctx, name, out, p)
	if storeErr != nil {
		_ = cmd.Process.Kill()
		_, _ = io.Copy(io.Discard, out)
	}
	waitErr := cmd.Wait()
	if storeErr != nil {
		return nil, storeErr
	}
	if waitErr != nil {
		return nil, fmt.Errorf("%s failed: %v: %s", filepath.Base(tool), waitErr, lastLines(stderr.String(), 10))
	}
	info := binlogInfoRE.FindStringSubmatch(stderr.String())
	if info == nil {
		return nil, fmt.Errorf("%s did not report the binlog position of the backup: %s", filepath.Base(tool), lastLines(stderr.String(), 10))
	}
	m.BinlogFile, m.GtidPosition = info[1], info[3]
	m.BinlogPosition, _ = strconv.ParseUint(info[2], 10, 64)
	m.SnapshotUnixNanos = time.Now().UnixNano()
	m.Chunks = chunks
	for _, c := range chunks {
		m.RawBytes += c.RawBytes
		m.StoredBytes += c.StoredBytes
	}
	p.setPhase("writing the manifest")
	m.FinishedUnixNanos = time.Now().UnixNano()
	if err := e.shard.WriteManifest(ctx, m); err != nil {
		return nil, err
	}
	return m, nil
}

// storeStream cuts r into pieces of ChunkBytes, and compresses and stores
// them, several at once, in order of their keys.
func (e *Engine) storeStream(ctx context.Context, backup string, r io.Reader, p *progress) ([]*backuppb.Chunk, error) {
	var (
		mu     sync.Mutex
		chunks []*backuppb.Chunk
		first  error
		wg     sync.WaitGroup
	)
	slots := make(chan struct{}, e.cfg.Workers+1)
	br := bufio.NewReaderSize(r, 1<<20)
	for n := 0; ; n++ {
		buf := make([]byte, e.cfg.ChunkBytes)
		k, err := io.ReadFull(br, buf)
		if k > 0 {
			buf = buf[:k]
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				compressed := encoder.EncodeAll(buf, make([]byte, 0, len(buf)/2))
				c := &backuppb.Chunk{Key: backupstore.PhysicalChunkKey(n), RawBytes: int64(len(buf)), StoredBytes: int64(len(compressed))}
				sha, err := e.shard.PutChunk(ctx, backup, c.Key, compressed)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if first == nil {
						first = err
					}
					return
				}
				c.Sha256 = sha
				for len(chunks) <= n {
					chunks = append(chunks, nil)
				}
				chunks[n] = c
				p.add(c.RawBytes, 0)
			})
		}
		mu.Lock()
		failed := first
		mu.Unlock()
		if failed != nil {
			wg.Wait()
			return nil, failed
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			wg.Wait()
			return nil, fmt.Errorf("read the backup stream: %w", err)
		}
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return chunks, nil
}

// unpackPhysical downloads a physical backup into dir and prepares it, so
// that dir is a data directory a server can start on.
func (e *Engine) unpackPhysical(ctx context.Context, m *backuppb.Manifest, dir string, p *progress) error {
	mbstream, err := findTool("mbstream")
	if err != nil {
		return err
	}
	tool, err := findTool("mariadb-backup", "mariabackup")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	p.setTotals(m.RawBytes, 0, 0)
	p.setPhase("downloading files")
	unpack := exec.CommandContext(ctx, mbstream, "-x", "-C", dir)
	in, err := unpack.StdinPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	unpack.Stderr = &stderr
	if err := unpack.Start(); err != nil {
		return fmt.Errorf("start mbstream: %w", err)
	}
	var copyErr error
	for _, c := range m.Chunks {
		data, err := e.shard.ReadChunk(ctx, m.Name, c)
		if err == nil {
			data, err = decoder.DecodeAll(data, make([]byte, 0, c.RawBytes))
		}
		if err == nil {
			_, err = in.Write(data)
		}
		if err != nil {
			copyErr = err
			break
		}
		p.add(c.RawBytes, 0)
	}
	in.Close()
	if err := unpack.Wait(); err != nil || copyErr != nil {
		return fmt.Errorf("unpack backup %s: %v %v: %s", m.Name, copyErr, err, lastLines(stderr.String(), 5))
	}
	p.setPhase("preparing the files")
	prepare := exec.CommandContext(ctx, tool, "--no-defaults", "--prepare", "--target-dir="+dir)
	if out, err := prepare.CombinedOutput(); err != nil {
		return fmt.Errorf("%s --prepare: %v: %s", filepath.Base(tool), err, lastLines(string(out), 10))
	}
	return nil
}

// physicalRestore puts a physical backup in place of the server's data
// directory (stopping and starting the server), then replays binlogs.
// changing is called right before the server is stopped, the first
// destructive step. A fresh server's binlog is reset to the backup's
// position and, after the replay, to where the restored history ends; a
// server with a history of its own keeps its binlog (it lies outside the
// data directory), so that its GTIDs go on past everything archived.
func (e *Engine) physicalRestore(ctx context.Context, plan *backupstore.Plan, p *progress, fresh bool, changing func() error) error {
	if e.cfg.Mysqld == nil {
		return errors.New("a physical restore replaces the server's data directory: start the tablet with --mysqld-data-dir")
	}
	cfg := *e.cfg.Mysqld
	staging := cfg.ServerDataDir() + ".restore"
	_ = os.RemoveAll(staging)
	defer os.RemoveAll(staging)
	if err := e.unpackPhysical(ctx, plan.Backup, staging, p); err != nil {
		return err
	}
	p.setPhase("replacing the data directory")
	if err := changing(); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := mysqld.StopDataDir(sctx, cfg.DataDir); err != nil {
		return fmt.Errorf("stop mysqld for the restore: %w", err)
	}
	old := cfg.ServerDataDir() + ".old"
	_ = os.RemoveAll(old)
	if err := os.Rename(cfg.ServerDataDir(), old); err != nil {
		return err
	}
	if err := os.Rename(staging, cfg.ServerDataDir()); err != nil {
		_ = os.Rename(old, cfg.ServerDataDir())
		return err
	}
	if _, err := mysqld.Start(sctx, cfg); err != nil {
		return fmt.Errorf("start mysqld on the restored data directory (the previous one is kept in %s): %w", old, err)
	}
	_ = os.RemoveAll(old)
	if fresh {
		// The new server's binlog is newer than its data now: start it over
		// at the backup's position.
		if err := e.resetBinlog(ctx, plan.Backup.GtidPosition); err != nil {
			return err
		}
	}
	end, err := e.replay(ctx, plan, e.cfg.MySQL, p)
	if err != nil {
		return err
	}
	if fresh {
		return e.resetBinlog(ctx, end.String())
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
