package backup

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/proto/backuppb"
)

// Rows of an XA transaction reach the binlog at XA PREPARE, in an event
// group of their own; XA COMMIT or XA ROLLBACK comes later in another. A
// backup taken while a transaction is prepared holds none of its rows (it
// is not committed) but starts replaying after its PREPARE: replaying only
// from the backup's position would meet an XA COMMIT of a transaction the
// server never saw. The backup therefore records the GTIDs of the PREPAREs
// of the transactions prepared at its snapshot, and a replay applies those
// groups first.

// xaStartRE reads the XID and GTID of a prepared XA group's GTID event in
// SHOW BINLOG EVENTS: "XA START <xid> GTID 0-1-9", the xid in hex form.
var xaStartRE = regexp.MustCompile(`^XA START (.*) GTID (\d+-\d+-\d+)$`)

// findPreparedGTIDs finds, in the server's binlog up to file, the GTIDs of
// the XA PREPARE groups of xids, newest files first.
func findPreparedGTIDs(ctx context.Context, db *sql.DB, upTo string, xids []string) ([]*backuppb.PreparedXA, error) {
	if len(xids) == 0 {
		return nil, nil
	}
	_, files, err := binlogFiles(ctx, db)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, x := range xids {
		want[x] = true
	}
	var out []*backuppb.PreparedXA
	for i := len(files) - 1; i >= 0 && len(want) > 0; i-- {
		if files[i] > upTo {
			continue
		}
		rows, err := db.QueryContext(ctx, "SHOW BINLOG EVENTS IN "+quoteString(files[i]))
		if err != nil {
			return nil, fmt.Errorf("SHOW BINLOG EVENTS IN %s: %w", files[i], err)
		}
		cols, _ := rows.Columns()
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for j := range vals {
			ptrs[j] = &vals[j]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, err
			}
			if string(vals[2]) != "Gtid" {
				continue
			}
			m := xaStartRE.FindStringSubmatch(strings.TrimSpace(string(vals[5])))
			if m != nil && want[m[1]] {
				out = append(out, &backuppb.PreparedXA{Xid: m[1], Gtid: m[2]})
				delete(want, m[1])
			}
		}
		rows.Close()
	}
	if len(want) > 0 {
		var missing []string
		for x := range want {
			missing = append(missing, x)
		}
		return nil, fmt.Errorf("XA transactions %s are prepared but their XA PREPARE is not in the server's binlog: a point-in-time restore from this backup could not commit them", strings.Join(missing, ", "))
	}
	return out, nil
}

// replayPrepared applies the XA PREPARE groups a backup recorded, each
// from the archived binlog that holds it, before the replay proper.
func (e *Engine) replayPrepared(ctx context.Context, m *backuppb.Manifest, binlogs []*backuppb.BinlogArchive, dir string, srv MySQL) error {
	for _, x := range m.PreparedXa {
		g, err := gtidpos.Parse(x.Gtid)
		if err != nil || len(g) != 1 {
			return fmt.Errorf("backup %s: prepared XA %s: GTID %q", m.Name, x.Xid, x.Gtid)
		}
		var gtid gtidpos.GTID
		for _, v := range g {
			gtid = v
		}
		var file *backuppb.BinlogArchive
		for _, b := range binlogs {
			start, err1 := gtidpos.Parse(b.StartPosition)
			end, err2 := gtidpos.Parse(b.EndPosition)
			if err1 != nil || err2 != nil {
				continue // a description that does not parse names no file
			}
			if end.AtLeast(g) && !start.AtLeast(g) {
				file = b
			}
		}
		if file == nil {
			return fmt.Errorf("backup %s: XA transaction %s was prepared at the snapshot and its XA PREPARE (%s) is in no archived binlog", m.Name, x.Xid, x.Gtid)
		}
		path := filepath.Join(dir, "prepared-"+file.File)
		if err := e.downloadBinlog(ctx, file, path); err != nil {
			return err
		}
		before := gtidpos.GTID{Domain: gtid.Domain, Server: gtid.Server, Seq: gtid.Seq - 1}
		args := []string{"--no-defaults", "--disable-log-bin", "--skip-annotate-row-events", "--skip-gtid-strict-mode", "--database=" + m.Database,
			"--start-position=" + before.String(), "--stop-position=" + gtid.String(), path}
		if err := pipeBinlog(ctx, args, srv); err != nil {
			return fmt.Errorf("replay the XA PREPARE of %s (%s): %w", x.Xid, x.Gtid, err)
		}
	}
	return nil
}
