package backupstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/shardgate/shardgate/proto/backuppb"
)

const manifestName = "MANIFEST.json"

// NameTimeFormat is how a backup name starts: the UTC time it began.
const NameTimeFormat = "20060102T150405.000Z"

// BackupName names a backup begun at t by the tablet alias.
func BackupName(t time.Time, alias string) string {
	return t.UTC().Format(NameTimeFormat) + "-" + alias
}

// NameTablet returns the alias of the tablet that took the named backup.
func NameTablet(name string) string {
	if i := strings.IndexByte(name, '-'); i >= 0 {
		return name[i+1:]
	}
	return ""
}

// NameTime returns the time a backup began, read from its name.
func NameTime(name string) (time.Time, bool) {
	i := strings.IndexByte(name, '-')
	if i < 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(NameTimeFormat, name[:i])
	return t, err == nil
}

func backupDir(name string) string { return "backups/" + name + "/" }

// TableChunkKey is the key, relative to its backup, of a table's n-th chunk.
func TableChunkKey(table string, n int) string {
	return fmt.Sprintf("tables/%s/%06d.tsv.zst", url.PathEscape(table), n)
}

// PhysicalChunkKey is the key, relative to its backup, of a physical
// backup's n-th piece.
func PhysicalChunkKey(n int) string { return fmt.Sprintf("physical/%06d.mbstream.zst", n) }

// PutChunk stores one object of the named backup and returns its hex
// sha256.
func (sh Shard) PutChunk(ctx context.Context, backup, key string, data []byte) (string, error) {
	return sh.put(ctx, backupDir(backup)+key, data)
}

// ReadChunk reads one object of the named backup and checks it against
// the sha256 the manifest recorded.
func (sh Shard) ReadChunk(ctx context.Context, backup string, c *backuppb.Chunk) ([]byte, error) {
	data, err := sh.get(ctx, backupDir(backup)+c.Key)
	if err != nil {
		return nil, err
	}
	if err := verifySHA256(data, c.Sha256, "backup "+backup+" object "+c.Key); err != nil {
		return nil, err
	}
	return data, nil
}

// WriteManifest publishes a backup: call it once every chunk is stored.
func (sh Shard) WriteManifest(ctx context.Context, m *backuppb.Manifest) error {
	data, err := marshal(m)
	if err != nil {
		return err
	}
	_, err = sh.put(ctx, backupDir(m.Name)+manifestName, data)
	return err
}

// ReadManifest reads the named backup's manifest; the error wraps
// ErrNotFound when there is no such complete backup.
func (sh Shard) ReadManifest(ctx context.Context, name string) (*backuppb.Manifest, error) {
	data, err := sh.get(ctx, backupDir(name)+manifestName)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("backup %s of %s/%s: %w (see `shardctl backup list`)", name, sh.Keyspace, sh.Shard, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	m := &backuppb.Manifest{}
	if err := protojson.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("backup %s: manifest: %w", name, err)
	}
	return m, nil
}

// ListBackups returns the shard's complete backups, oldest first, and the
// names of incomplete ones (objects without a manifest).
func (sh Shard) ListBackups(ctx context.Context) (complete []*backuppb.Manifest, incomplete []string, err error) {
	dirs, err := sh.list(ctx, "backups/", true)
	if err != nil {
		return nil, nil, err
	}
	for _, d := range dirs {
		if !strings.HasSuffix(d, "/") {
			continue
		}
		name := path.Base(strings.TrimSuffix(d, "/"))
		m, err := sh.ReadManifest(ctx, name)
		switch {
		case errors.Is(err, ErrNotFound):
			incomplete = append(incomplete, name)
		case err != nil:
			return nil, nil, err
		default:
			complete = append(complete, m)
		}
	}
	sort.Slice(complete, func(i, j int) bool { return complete[i].SnapshotUnixNanos < complete[j].SnapshotUnixNanos })
	sort.Strings(incomplete)
	return complete, incomplete, nil
}

// DeleteBackup removes every object of the named backup, its manifest
// first, so that a deletion that stops half-way leaves an incomplete
// backup, never a listed one with objects missing.
func (sh Shard) DeleteBackup(ctx context.Context, name string) error {
	if err := sh.delete(ctx, backupDir(name)+manifestName); err != nil {
		return err
	}
	return sh.deleteAll(ctx, backupDir(name))
}

func marshal(m proto.Message) ([]byte, error) {
	return protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
}
