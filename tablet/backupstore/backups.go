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

	"github.com/shardgate/shardgate/internal/gtidpos"
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
// It first checks that every object the manifest names is in the store,
// with the size it records, so that a backup whose objects were removed
// while it ran (a prune, an operator) is never published.
func (sh Shard) WriteManifest(ctx context.Context, m *backuppb.Manifest) error {
	if err := sh.checkObjects(ctx, m); err != nil {
		return err
	}
	data, err := marshal(m)
	if err != nil {
		return err
	}
	_, err = sh.put(ctx, backupDir(m.Name)+manifestName, data)
	return err
}

// checkObjects lists the backup's objects and compares them with those the
// manifest names.
func (sh Shard) checkObjects(ctx context.Context, m *backuppb.Manifest) error {
	want := map[string]int64{}
	add := func(c *backuppb.Chunk) error {
		if c == nil {
			return fmt.Errorf("backup %s: the manifest lists a chunk that was never stored", m.Name)
		}
		want[c.Key] = c.StoredBytes
		return nil
	}
	for _, t := range m.Tables {
		for _, c := range t.Chunks {
			if err := add(c); err != nil {
				return err
			}
		}
	}
	for _, c := range m.Chunks {
		if err := add(c); err != nil {
			return err
		}
	}
	have, err := sh.sizes(ctx, backupDir(m.Name))
	if err != nil {
		return fmt.Errorf("backup %s: check its objects before publishing it: %w", m.Name, err)
	}
	var missing []string
	for key, size := range want {
		got, ok := have[backupDir(m.Name)+key]
		switch {
		case !ok:
			missing = append(missing, key)
		case got != size:
			missing = append(missing, fmt.Sprintf("%s (%d bytes, not %d)", key, got, size))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		if len(missing) > 5 {
			missing = append(missing[:5], fmt.Sprintf("and %d more", len(missing)-5))
		}
		return fmt.Errorf("backup %s is not published: objects are missing from %s (removed while it ran?): %s",
			m.Name, sh.store.url, strings.Join(missing, ", "))
	}
	return nil
}

// ReadManifest reads the named backup's manifest; the error wraps
// ErrNotFound when there is no such complete backup. Fields it does not
// know (written by a newer version) are ignored; a manifest that does not
// parse, names another backup, or holds a position that does not parse is
// an error.
func (sh Shard) ReadManifest(ctx context.Context, name string) (*backuppb.Manifest, error) {
	data, err := sh.get(ctx, backupDir(name)+manifestName)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("backup %s of %s/%s: %w (see `shardctl backup list`)", name, sh.Keyspace, sh.Shard, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	m := &backuppb.Manifest{}
	if err := unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("backup %s: manifest: %w", name, err)
	}
	if m.Name != name {
		return nil, fmt.Errorf("backup %s: its manifest names backup %q", name, m.Name)
	}
	if _, err := gtidpos.Parse(m.GtidPosition); err != nil {
		return nil, fmt.Errorf("backup %s: manifest: %w", name, err)
	}
	for _, x := range m.PreparedXa {
		if _, err := gtidpos.Parse(x.Gtid); err != nil {
			return nil, fmt.Errorf("backup %s: manifest: prepared XA %s: %w", name, x.Xid, err)
		}
	}
	return m, nil
}

// Listing is what the store holds of a shard's backups.
type Listing struct {
	// Complete backups, oldest snapshot first.
	Complete []*backuppb.Manifest
	// Incomplete names backups without a manifest (failed or running).
	Incomplete []string
	// Unusable backups have a manifest that cannot be read.
	Unusable []*backuppb.Unusable
}

// ListBackups returns the shard's complete backups, oldest first, the
// names of incomplete ones (objects without a manifest), and those whose
// manifest cannot be read: one bad manifest does not hide the others.
func (sh Shard) ListBackups(ctx context.Context) (*Listing, error) {
	dirs, err := sh.list(ctx, "backups/", true)
	if err != nil {
		return nil, err
	}
	l := &Listing{}
	for _, d := range dirs {
		if !strings.HasSuffix(d, "/") {
			continue
		}
		name := path.Base(strings.TrimSuffix(d, "/"))
		m, err := sh.ReadManifest(ctx, name)
		switch {
		case errors.Is(err, ErrNotFound):
			l.Incomplete = append(l.Incomplete, name)
		case err != nil && ctx.Err() != nil:
			return nil, err
		case err != nil:
			l.Unusable = append(l.Unusable, &backuppb.Unusable{Name: name, Error: err.Error()})
		default:
			l.Complete = append(l.Complete, m)
		}
	}
	sort.Slice(l.Complete, func(i, j int) bool { return l.Complete[i].SnapshotUnixNanos < l.Complete[j].SnapshotUnixNanos })
	sort.Strings(l.Incomplete)
	return l, nil
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

// unmarshal reads metadata written by marshal, ignoring fields a newer
// version added.
func unmarshal(data []byte, m proto.Message) error {
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, m)
}
