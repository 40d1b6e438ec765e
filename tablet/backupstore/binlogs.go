package backupstore

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/shardgate/shardgate/proto/backuppb"
)

// BinlogKey names an archived binlog file: the position it starts at (as a
// sequence sum, zero-padded so that keys sort in history order) and the
// file's name on the server. The same file archived twice gets the same
// key; files of the same name after a RESET MASTER do not.
func BinlogKey(start Position, file string) string {
	return fmt.Sprintf("%020d-%s", start.seqSum(), file)
}

func binlogObject(key string) string { return "binlogs/" + key + ".zst" }
func binlogEntry(key string) string  { return "binlogs/" + key + ".json" }

// PutBinlog archives one binlog file (compressed) and then its
// description e, whose Key, Sha256 and StoredBytes it fills in.
func (sh Shard) PutBinlog(ctx context.Context, e *backuppb.BinlogArchive, compressed []byte) error {
	e.Key = BinlogKey(MustPosition(e.StartPosition), e.File)
	sum, err := sh.put(ctx, binlogObject(e.Key), compressed)
	if err != nil {
		return err
	}
	e.Sha256, e.StoredBytes = sum, int64(len(compressed))
	data, err := marshal(e)
	if err != nil {
		return err
	}
	_, err = sh.put(ctx, binlogEntry(e.Key), data)
	return err
}

// ReadBinlog reads an archived binlog file (compressed) and checks its
// sha256.
func (sh Shard) ReadBinlog(ctx context.Context, e *backuppb.BinlogArchive) ([]byte, error) {
	data, err := sh.get(ctx, binlogObject(e.Key))
	if err != nil {
		return nil, err
	}
	return data, verifySHA256(data, e.Sha256, "archived binlog "+e.Key)
}

// ListBinlogs returns the described archived binlog files in history
// order.
func (sh Shard) ListBinlogs(ctx context.Context) ([]*backuppb.BinlogArchive, error) {
	keys, err := sh.list(ctx, "binlogs/", false)
	if err != nil {
		return nil, err
	}
	var out []*backuppb.BinlogArchive
	for _, k := range keys {
		if !strings.HasSuffix(k, ".json") {
			continue
		}
		data, err := sh.get(ctx, k)
		if err != nil {
			return nil, err
		}
		e := &backuppb.BinlogArchive{}
		if err := protojson.Unmarshal(data, e); err != nil {
			return nil, fmt.Errorf("archived binlog %s: %w", k, err)
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// DeleteBinlog removes an archived file, its description first.
func (sh Shard) DeleteBinlog(ctx context.Context, e *backuppb.BinlogArchive) error {
	if err := sh.delete(ctx, binlogEntry(e.Key)); err != nil {
		return err
	}
	return sh.delete(ctx, binlogObject(e.Key))
}

// PutRestoreMarker records a whole-shard restore in place.
func (sh Shard) PutRestoreMarker(ctx context.Context, m *backuppb.RestoreMarker) error {
	data, err := marshal(m)
	if err != nil {
		return err
	}
	_, err = sh.put(ctx, "restores/"+strconv.FormatInt(m.RestoredUnixNanos, 10)+".json", data)
	return err
}

// ListRestoreMarkers returns the shard's restore markers, oldest first.
func (sh Shard) ListRestoreMarkers(ctx context.Context) ([]*backuppb.RestoreMarker, error) {
	keys, err := sh.list(ctx, "restores/", false)
	if err != nil {
		return nil, err
	}
	var out []*backuppb.RestoreMarker
	for _, k := range keys {
		data, err := sh.get(ctx, k)
		if err != nil {
			return nil, err
		}
		m := &backuppb.RestoreMarker{}
		if err := protojson.Unmarshal(data, m); err != nil {
			return nil, fmt.Errorf("restore marker %s: %w", k, err)
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RestoredUnixNanos < out[j].RestoredUnixNanos })
	return out, nil
}
