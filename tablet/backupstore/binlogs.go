package backupstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/proto/backuppb"
)

// BinlogKey names an archived binlog file: the position it starts at (as a
// sequence sum, zero-padded so that keys sort in history order) and the
// file's name on the server. The same file archived twice gets the same
// key; files of the same name after a RESET MASTER do not.
func BinlogKey(start gtidpos.Position, file string) string {
	return fmt.Sprintf("%020d-%s", seqSum(start), file)
}

func binlogObject(key string) string { return "binlogs/" + key + ".zst" }
func binlogEntry(key string) string  { return "binlogs/" + key + ".json" }

// PutBinlog archives one binlog file and then its description e, whose
// Key, Sha256 and StoredBytes it fills in. write produces the stored
// (compressed) bytes, and is called again if a write must be retried.
func (sh Shard) PutBinlog(ctx context.Context, e *backuppb.BinlogArchive, write func(io.Writer) error) error {
	start, err := gtidpos.Parse(e.StartPosition)
	if err != nil {
		return fmt.Errorf("archive binlog %s: %w", e.File, err)
	}
	e.Key = BinlogKey(start, e.File)
	sum, n, err := sh.putStream(ctx, binlogObject(e.Key), write)
	if err != nil {
		return err
	}
	e.Sha256, e.StoredBytes = sum, n
	data, err := marshal(e)
	if err != nil {
		return err
	}
	_, err = sh.put(ctx, binlogEntry(e.Key), data)
	return err
}

// CopyBinlog writes an archived binlog file (compressed, as stored) to w
// and checks its sha256 once all is read; w must discard what it got if
// CopyBinlog fails.
func (sh Shard) CopyBinlog(ctx context.Context, e *backuppb.BinlogArchive, w io.Writer) error {
	r, err := sh.open(ctx, binlogObject(e.Key))
	if err != nil {
		return err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(w, h), r); err != nil {
		return fmt.Errorf("read archived binlog %s: %w", e.Key, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != e.Sha256 {
		return fmt.Errorf("archived binlog %s is corrupt: sha256 %s, its description says %s", e.Key, got, e.Sha256)
	}
	return nil
}

// ListBinlogs returns the described archived binlog files in history
// order, and the descriptions that cannot be read (malformed, or with a
// position that does not parse): those files are left out, so a restore
// that needs one stops at the gap it leaves.
func (sh Shard) ListBinlogs(ctx context.Context) ([]*backuppb.BinlogArchive, []*backuppb.Unusable, error) {
	keys, err := sh.list(ctx, "binlogs/", false)
	if err != nil {
		return nil, nil, err
	}
	var out []*backuppb.BinlogArchive
	var bad []*backuppb.Unusable
	for _, k := range keys {
		name, ok := strings.CutSuffix(k, ".json")
		if !ok {
			continue
		}
		data, err := sh.get(ctx, k)
		if err != nil {
			return nil, nil, err
		}
		e := &backuppb.BinlogArchive{}
		if err := readBinlogEntry(data, strings.TrimPrefix(name, "binlogs/"), e); err != nil {
			bad = append(bad, &backuppb.Unusable{Name: strings.TrimPrefix(name, "binlogs/"), Error: err.Error()})
			continue
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, bad, nil
}

// readBinlogEntry reads the description stored under key into e and
// checks what restores rely on.
func readBinlogEntry(data []byte, key string, e *backuppb.BinlogArchive) error {
	if err := unmarshal(data, e); err != nil {
		return fmt.Errorf("archived binlog %s: %w", key, err)
	}
	if e.Key != key {
		return fmt.Errorf("archived binlog %s: its description names key %q", key, e.Key)
	}
	if _, err := gtidpos.Parse(e.StartPosition); err != nil {
		return fmt.Errorf("archived binlog %s: start: %w", key, err)
	}
	if _, err := gtidpos.Parse(e.EndPosition); err != nil {
		return fmt.Errorf("archived binlog %s: end: %w", key, err)
	}
	return nil
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
		// A marker that cannot be read is an error, not skipped: leaving it
		// out would let a replay cross the restore it records.
		if err := unmarshal(data, m); err != nil {
			return nil, fmt.Errorf("restore marker %s: %w", k, err)
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RestoredUnixNanos < out[j].RestoredUnixNanos })
	return out, nil
}

// seqSum orders the positions of one history: it grows with every
// transaction, so binlog keys sort in the order the files were written.
func seqSum(p gtidpos.Position) uint64 {
	var n uint64
	for _, g := range p {
		n += g.Seq
	}
	return n
}
