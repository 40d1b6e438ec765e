package backup

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"go.uber.org/zap"

	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/proto/backuppb"

	"github.com/shardgate/shardgate/tablet/backupstore"
)

// Point-in-time replay pipes MariaDB's own binlog decoder into MariaDB's
// own client:
//
//	mariadb-binlog --disable-log-bin --database=<shard's database> --start-position=<backup GTID> \
//	    [--stop-position=<GTID> | --stop-datetime=<UTC second>] files... | mariadb --binary-mode
//
// mariadb-binlog turns every event, XA PREPARE/COMMIT/ROLLBACK groups
// included, into the statements (and BINLOG row images) that the server
// applies exactly as a replica would; its GTID start position skips what the
// backup already holds. The replayed changes are not binlogged again.
//
// --database keeps the replay to the shard's database, as a replica's
// replicate-do-db would: row changes by the database of the table they
// change, statements (DDL) by the default database they ran in, which is
// the shard's for everything that reaches it through a tablet. Other
// databases of the server are not the shard's history: _shardgate, where
// resharding streams keep their positions, would fail on a new server
// ("Unknown database") and be rewound on a live one.

// maxPacket is the largest statement the replay sends: a row event is
// printed base64-encoded, a third larger than the row the server took.
const maxPacket = 1 << 30

// replay applies the plan's archived binlogs to the server srv, from the
// backup's position to the plan's stop, and returns the GTID position the
// shard is at after it. XA transactions the replay leaves prepared
// (prepared before the stop, decided after it) are rolled back when the
// target is a moment or position: at the target they were not committed.
// At the latest archived moment they stay prepared, as a server that
// crashed there keeps them (XA RECOVER lists them), so that the
// coordinator's XA COMMIT or XA ROLLBACK, still to come, finds them.
func (e *Engine) replay(ctx context.Context, plan *backupstore.Plan, srv MySQL, p *progress) (gtidpos.Position, error) {
	end, err := gtidpos.Parse(plan.Backup.GtidPosition)
	if err != nil || len(plan.Binlogs) == 0 {
		return end, err
	}
	p.setPhase("replaying binlogs")
	tmp, err := e.tmpDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(tmp, "replay")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var files []string
	for i, b := range plan.Binlogs {
		f := filepath.Join(dir, fmt.Sprintf("%05d-%s", i, b.File))
		if err := e.downloadBinlog(ctx, b, f); err != nil {
			return nil, err
		}
		if !plan.StopBefore.IsZero() {
			sum, err := summarizeStop(f, plan.StopBefore.Unix())
			if err != nil {
				return nil, fmt.Errorf("archived binlog %s: %w", b.Key, err)
			}
			for d, g := range sum.end {
				end = end.After(gtidpos.GTID{Domain: d, Server: g.Server, Seq: g.Seq})
			}
		}
		files = append(files, f)
		p.add(b.Size, 0)
	}

	db, err := srv.open("")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	restorePacket, err := raiseMaxPacket(ctx, db)
	if err != nil {
		return nil, err
	}
	defer restorePacket()
	before, err := preparedXA(ctx, db)
	if err != nil {
		return nil, err
	}
	if len(plan.Backup.PreparedXa) > 0 {
		all, _, err := e.shard.ListBinlogs(ctx)
		if err != nil {
			return nil, err
		}
		if err := e.replayPrepared(ctx, plan.Backup, all, dir, srv); err != nil {
			return nil, err
		}
	}

	args := []string{"--no-defaults", "--disable-log-bin", "--skip-annotate-row-events", "--database=" + plan.Backup.Database}
	if start := plan.Backup.GtidPosition; start != "" {
		args = append(args, "--start-position="+start)
	}
	switch {
	case len(plan.StopGTID) > 0:
		args = append(args, "--stop-position="+plan.StopGTID.String())
	case !plan.StopBefore.IsZero():
		args = append(args, "--stop-datetime="+plan.StopBefore.UTC().Format("2006-01-02 15:04:05"))
	}
	args = append(args, files...)
	if err := pipeBinlog(ctx, args, srv); err != nil {
		return nil, err
	}

	if plan.Kind != backupstore.ToLatest {
		after, err := preparedXA(ctx, db)
		if err != nil {
			return nil, err
		}
		for _, xid := range after {
			if contains(before, xid) {
				continue
			}
			e.log.Info("rolling back an XA transaction the replay left prepared: it was not committed at the target", zap.String("xid", xid))
			if _, err := db.ExecContext(ctx, "XA ROLLBACK "+xid); err != nil {
				return nil, fmt.Errorf("XA ROLLBACK %s after the replay: %w", xid, err)
			}
		}
	}
	switch {
	case len(plan.StopGTID) > 0:
		end = plan.StopGTID
	case plan.StopBefore.IsZero():
		if end, err = gtidpos.Parse(plan.Binlogs[len(plan.Binlogs)-1].EndPosition); err != nil {
			return nil, err
		}
	}
	return end, nil
}

// raiseMaxPacket raises the server's max_allowed_packet to maxPacket for
// the replay's client connections, which start after it, and returns the
// function that sets it back.
func raiseMaxPacket(ctx context.Context, db *sql.DB) (func(), error) {
	var old int64
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.max_allowed_packet").Scan(&old); err != nil {
		return nil, fmt.Errorf("read max_allowed_packet: %w", err)
	}
	if old >= maxPacket {
		return func() {}, nil
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf("SET GLOBAL max_allowed_packet = %d", maxPacket)); err != nil {
		return nil, fmt.Errorf("raise max_allowed_packet for the replay: %w", err)
	}
	return func() {
		_, _ = db.ExecContext(context.Background(), fmt.Sprintf("SET GLOBAL max_allowed_packet = %d", old))
	}, nil
}

// downloadBinlog writes an archived binlog file, decompressed, to path.
func (e *Engine) downloadBinlog(ctx context.Context, b *backuppb.BinlogArchive, path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	pr, pw := io.Pipe()
	decoded := make(chan error, 1)
	go func() {
		zr, err := zstd.NewReader(pr, zstd.WithDecoderConcurrency(1))
		if err == nil {
			_, err = io.Copy(f, zr)
			zr.Close()
		}
		pr.CloseWithError(err)
		decoded <- err
	}()
	err = e.shard.CopyBinlog(ctx, b, pw)
	pw.CloseWithError(err)
	if derr := <-decoded; err == nil && derr != nil {
		err = fmt.Errorf("archived binlog %s: %w", b.Key, derr)
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// summarizeStop summarizes a binlog file up to a stop time.
func summarizeStop(path string, stopBefore int64) (*binlogSummary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return summarizeBinlog(bufio.NewReaderSize(f, 1<<20), stopBefore)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// pipeBinlog runs mariadb-binlog args | mariadb (connected to srv), with
// the decoder's output passed through replayFilter.
func pipeBinlog(ctx context.Context, args []string, srv MySQL) error {
	binlogBin, err := findTool("mariadb-binlog", "mysqlbinlog")
	if err != nil {
		return err
	}
	clientBin, err := findTool("mariadb", "mysql")
	if err != nil {
		return err
	}
	decode := exec.CommandContext(ctx, binlogBin, args...)
	// --stop-datetime is read in the local time zone.
	decode.Env = append(os.Environ(), "TZ=UTC")
	clientArgs := []string{"--no-defaults", "--binary-mode", "--max-allowed-packet=" + strconv.Itoa(maxPacket), "--user=" + srv.User}
	if srv.Socket != "" {
		clientArgs = append(clientArgs, "--socket="+srv.Socket)
	} else {
		clientArgs = append(clientArgs, "--host="+srv.Host, "--port="+strconv.Itoa(srv.Port), "--protocol=tcp")
	}
	apply := exec.CommandContext(ctx, clientBin, clientArgs...)
	if srv.Password != "" {
		apply.Env = append(os.Environ(), "MYSQL_PWD="+srv.Password)
	}
	var decodeErr, applyErr bytes.Buffer
	decode.Stderr = &decodeErr
	apply.Stderr = &applyErr
	apply.Stdout = io.Discard
	decoded, err := decode.StdoutPipe()
	if err != nil {
		return err
	}
	toApply, err := apply.StdinPipe()
	if err != nil {
		return err
	}
	if err := apply.Start(); err != nil {
		return fmt.Errorf("start %s: %w", clientBin, err)
	}
	if err := decode.Start(); err != nil {
		toApply.Close()
		_ = apply.Wait()
		return fmt.Errorf("start %s: %w", binlogBin, err)
	}
	filterErr := replayFilter(decoded, toApply)
	// When the client has failed, closing our end of the decoder's output
	// ends the decoder (EPIPE) instead of leaving it blocked.
	decoded.Close()
	toApply.Close()
	aerr := apply.Wait()
	derr := decode.Wait()
	switch {
	case aerr != nil:
		return fmt.Errorf("apply the binlogs with %s: %v: %s", filepath.Base(clientBin), aerr, lastLines(strings.TrimSpace(applyErr.String()), 8))
	case derr != nil:
		return fmt.Errorf("decode the binlogs with %s: %v: %s", filepath.Base(binlogBin), derr, lastLines(strings.TrimSpace(decodeErr.String()), 8))
	case filterErr != nil:
		return fmt.Errorf("pass the binlogs from %s to %s: %w", filepath.Base(binlogBin), filepath.Base(clientBin), filterErr)
	}
	return nil
}

// gtidSeqNo is how mariadb-binlog sets a replayed transaction's GTID
// sequence number. The server checks it against its binlog state under
// gtid_strict_mode even though the replay is not binlogged, and refuses a
// number below its own (a shard restored in place has gone past the
// archived history). The replay needs no GTIDs of its own: the line is
// turned into a harmless user-variable assignment.
var gtidSeqNo = []byte("SET @@session.gtid_seq_no=")

// replayFilter copies mariadb-binlog's output to the client, line by line,
// neutralizing GTID sequence numbers.
func replayFilter(r io.Reader, w io.Writer) error {
	br := bufio.NewReaderSize(r, 1<<20)
	bw := bufio.NewWriterSize(w, 1<<20)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A long line (a row image): not a GTID statement.
			if _, werr := bw.Write(line); werr != nil {
				return werr
			}
			continue
		}
		if i := bytes.Index(line, gtidSeqNo); i >= 0 {
			fixed := make([]byte, 0, len(line)+16)
			fixed = append(fixed, line[:i]...)
			fixed = append(fixed, "SET @shardgate_replayed_gtid_seq_no="...)
			fixed = append(fixed, line[i+len(gtidSeqNo):]...)
			line = fixed
		}
		if _, werr := bw.Write(line); werr != nil {
			return werr
		}
		if err == io.EOF {
			return bw.Flush()
		}
		if err != nil {
			return err
		}
	}
}

// findTool returns the first of names in PATH, or in /usr/bin.
func findTool(names ...string) (string, error) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	for _, n := range names {
		if p := filepath.Join("/usr/bin", n); isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH: install it (Debian package %s)", names[0], packageOf(names[0]))
}

func packageOf(tool string) string {
	switch tool {
	case "mariadb-backup", "mbstream":
		return "mariadb-backup"
	}
	return "mariadb-client"
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
