package vstreamer

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/sqlescape"
	"vitess.io/vitess/go/sqltypes"

	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/replicationpb"
)

// rowsBatchBytes is about how much row data one message carries.
const rowsBatchBytes = 256 << 10

// StreamRows sends up to max_rows rows of a table that follow last_pk in
// primary-key order, read from a consistent snapshot whose GTID position
// the first message gives, keeping those of the filter's key range.
func (s *Streamer) StreamRows(ctx context.Context, req *replicationpb.StreamRowsRequest, send func(*replicationpb.StreamRowsResponse) error) error {
	if err := s.checkKeyspace(req.Keyspace); err != nil {
		return err
	}
	filter, err := NewFilter(req.Filter)
	if err != nil {
		return err
	}
	maxRows := req.MaxRows
	if maxRows == 0 {
		maxRows = 10000
	}
	conn, err := mysql.Connect(ctx, &s.params)
	if err != nil {
		return fmt.Errorf("connect to MySQL: %w", err)
	}
	defer conn.Close()
	// Closing the connection ends a read the caller no longer wants.
	stop := context.AfterFunc(ctx, conn.Close)
	defer stop()

	pos, err := snapshot(conn)
	if err != nil {
		return err
	}
	t, err := loadTable(conn, s.keyspace, req.Table)
	if err != nil {
		return err
	}
	rf, err := filter.forTable(t.name, t.fields)
	if err != nil {
		return err
	}
	sql, err := t.chunkQuery(s.keyspace, req.LastPk, maxRows)
	if err != nil {
		return err
	}
	if err := conn.ExecuteStreamFetch(sql); err != nil {
		return fmt.Errorf("read %s: %w", t.name, err)
	}
	defer conn.CloseResult()
	if err := send(&replicationpb.StreamRowsResponse{Position: pos, Fields: queryconv.FieldsToProto(t.fields), PkColumns: t.pk}); err != nil {
		return err
	}
	msg := &replicationpb.StreamRowsResponse{}
	size, read := 0, int64(0)
	var last []sqltypes.Value
	for {
		row, err := conn.FetchNext(nil)
		if err != nil {
			return fmt.Errorf("read %s: %w", t.name, err)
		}
		if row == nil {
			break
		}
		read++
		msg.RowsRead++
		last = t.pkOf(row)
		keep, err := rf.keep(row)
		if err != nil {
			return fmt.Errorf("table %s: %w", t.name, err)
		}
		if keep {
			pr := queryconv.RowToProto(row)
			msg.Rows = append(msg.Rows, pr)
			size += len(pr.Values) + 8*len(pr.Lengths)
		}
		if size >= rowsBatchBytes {
			if err := send(msg); err != nil {
				return err
			}
			msg, size = &replicationpb.StreamRowsResponse{}, 0
		}
	}
	msg.Done = maxRows < 0 || read < maxRows
	if last != nil {
		msg.LastPk = queryconv.RowToProto(last)
	}
	if err := send(msg); err != nil {
		return err
	}
	_, err = conn.ExecuteFetch("COMMIT", 0, false)
	return err
}

// snapshot begins a consistent snapshot on conn and returns the GTID
// position it sees: MariaDB reports the binlog coordinates of the
// snapshot, which BINLOG_GTID_POS turns into a GTID position.
func snapshot(conn *mysql.Conn) (string, error) {
	// Times are read in UTC, as the binlog stream sends them and the
	// receiver writes them.
	for _, q := range []string{"SET SESSION time_zone = '+00:00'", "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "START TRANSACTION WITH CONSISTENT SNAPSHOT"} {
		if _, err := conn.ExecuteFetch(q, 0, false); err != nil {
			return "", fmt.Errorf("%s: %w", q, err)
		}
	}
	res, err := conn.ExecuteFetch("SHOW STATUS LIKE 'binlog_snapshot_%'", 10, false)
	if err != nil {
		return "", fmt.Errorf("read the snapshot's binlog position: %w", err)
	}
	var file string
	var offset int64 = -1
	for _, row := range res.Rows {
		switch strings.ToLower(row[0].ToString()) {
		case "binlog_snapshot_file":
			file = row[1].ToString()
		case "binlog_snapshot_position":
			offset, _ = strconv.ParseInt(row[1].ToString(), 10, 64)
		}
	}
	if file == "" || offset < 0 {
		return "", fmt.Errorf("MySQL reports no binlog position for the snapshot: is the binlog enabled (log_bin)?")
	}
	res, err = conn.ExecuteFetch(fmt.Sprintf("SELECT BINLOG_GTID_POS(%s, %d)", sqltypes.EncodeStringSQL(file), offset), 1, false)
	if err != nil {
		return "", fmt.Errorf("GTID position of %s:%d: %w", file, offset, err)
	}
	if len(res.Rows) == 0 || res.Rows[0][0].IsNull() {
		return "", nil
	}
	return res.Rows[0][0].ToString(), nil
}

// chunkQuery reads up to n rows (all: n < 0) after lastPK in primary-key
// order. A
// composite key's "after" is spelled out ((a > x) OR (a = x AND b > y)),
// which MariaDB's range optimizer uses, unlike a row comparison.
func (t *table) chunkQuery(db string, lastPK *querypb.Row, n int64) (string, error) {
	var b strings.Builder
	b.WriteString("SELECT * FROM " + sqlescape.EscapeID(db) + "." + sqlescape.EscapeID(t.name))
	if lastPK != nil && len(lastPK.Lengths) > 0 {
		vals, err := t.pkValues(lastPK)
		if err != nil {
			return "", err
		}
		b.WriteString(" WHERE ")
		for i := range t.pk {
			if i > 0 {
				b.WriteString(" OR ")
			}
			b.WriteString("(")
			for j := 0; j < i; j++ {
				b.WriteString(sqlescape.EscapeID(t.pk[j]) + " = " + literal(vals[j]) + " AND ")
			}
			b.WriteString(sqlescape.EscapeID(t.pk[i]) + " > " + literal(vals[i]) + ")")
		}
	}
	b.WriteString(" ORDER BY ")
	for i, c := range t.pk {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(sqlescape.EscapeID(c))
	}
	if n >= 0 {
		fmt.Fprintf(&b, " LIMIT %d", n)
	}
	return b.String(), nil
}

// literal is v as an SQL literal.
func literal(v sqltypes.Value) string {
	var b strings.Builder
	v.EncodeSQL(&b)
	return b.String()
}

// pkValues types a primary key sent back by the receiver.
func (t *table) pkValues(r *querypb.Row) ([]sqltypes.Value, error) {
	fields := make([]*querypb.Field, len(t.pkPos))
	for i, p := range t.pkPos {
		fields[i] = queryconv.FieldsToProto(t.fields[p : p+1])[0]
	}
	row, err := queryconv.RowFromProto(queryconv.FieldsFromProto(fields), r)
	if err != nil {
		return nil, fmt.Errorf("the last primary key of %s: %w", t.name, err)
	}
	return row, nil
}
