package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// snapshot is a set of connections that all see the same consistent
// snapshot of the server, and where it is in the binlog.
type snapshot struct {
	conns    []*sql.Conn
	file     string
	pos      uint64
	gtid     string
	at       time.Time
	version  string
	prepared []string // XA transactions prepared at the snapshot
}

func (s *snapshot) close() {
	for _, c := range s.conns {
		_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		c.Close()
	}
}

// takeSnapshot opens n connections in one consistent snapshot
// (START TRANSACTION WITH CONSISTENT SNAPSHOT) and reads its binlog
// position from MariaDB's binlog_snapshot_file/position, which the server
// keeps consistent with the snapshot. With more than one connection, writes
// are blocked (FLUSH TABLES WITH READ LOCK) for the moment it takes to open
// the snapshots, as mydumper does, so that they all see the same data.
func takeSnapshot(ctx context.Context, db *sql.DB, n int) (*snapshot, error) {
	s := &snapshot{}
	var lock *sql.Conn
	if n > 1 {
		var err error
		if lock, err = db.Conn(ctx); err != nil {
			return nil, err
		}
		defer lock.Close()
		if err := execAll(ctx, lock, "SET SESSION lock_wait_timeout = 60", "FLUSH TABLES WITH READ LOCK"); err != nil {
			return nil, fmt.Errorf("block writes for the snapshot: %w", err)
		}
		defer func() { _, _ = lock.ExecContext(context.Background(), "UNLOCK TABLES") }()
	}
	for i := 0; i < n; i++ {
		c, err := db.Conn(ctx)
		if err != nil {
			s.close()
			return nil, err
		}
		s.conns = append(s.conns, c)
		if err := execAll(ctx, c, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
			"START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"); err != nil {
			s.close()
			return nil, fmt.Errorf("open a consistent snapshot: %w", err)
		}
	}
	s.at = time.Now()
	status := map[string]string{}
	rows, err := s.conns[0].QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		s.close()
		return nil, err
	}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			s.close()
			return nil, err
		}
		status[k] = v
	}
	rows.Close()
	s.file = status["Binlog_snapshot_file"]
	s.pos, _ = strconv.ParseUint(status["Binlog_snapshot_position"], 10, 64)
	if s.file == "" {
		s.close()
		return nil, errors.New("the server has no binary log: backups need log_bin (row-based, with GTIDs)")
	}
	var gtid sql.NullString
	if err := s.conns[0].QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?), VERSION()", s.file, s.pos).Scan(&gtid, &s.version); err != nil {
		s.close()
		return nil, fmt.Errorf("GTID position of %s:%d: %w", s.file, s.pos, err)
	}
	s.gtid = gtid.String
	if s.prepared, err = preparedXA(ctx, s.conns[0]); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// preparedXA lists the XA transactions prepared on the server, as XIDs in
// the form the binlog shows them and XA COMMIT takes: X'gtrid',X'bqual',formatID.
func preparedXA(ctx context.Context, q querier) ([]string, error) {
	rows, err := q.QueryContext(ctx, "XA RECOVER")
	if err != nil {
		return nil, fmt.Errorf("XA RECOVER: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var format, gl, bl int64
		var data []byte
		if err := rows.Scan(&format, &gl, &bl, &data); err != nil {
			return nil, err
		}
		if gl < 0 || bl < 0 || int(gl+bl) > len(data) {
			return nil, fmt.Errorf("XA RECOVER: malformed row (%d, %d, %d bytes)", gl, bl, len(data))
		}
		out = append(out, fmt.Sprintf("X'%x',X'%x',%d", data[:gl], data[gl:gl+bl], format))
	}
	return out, rows.Err()
}
