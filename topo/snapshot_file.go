package topo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// A snapshot file keeps, per watched prefix, the keys and values a
// SnapshotStore last saw under it: the same bytes as in etcd, so that
// reading it back goes through the same decoders as a live watch. It is
// JSON (values in base64) with a SHA-256 of its contents, and is replaced
// atomically (a temporary file renamed over it), so that a reader finds
// the old file or the new one, never a torn one; a file that does not
// check out is refused whole.

// snapshotFormat is the version of the file's layout; a file of another
// version is refused.
const snapshotFormat = 1

// Snapshot is the contents of a snapshot file.
type Snapshot struct {
	// WrittenAt is when the file was written.
	WrittenAt time.Time
	// Prefixes holds, per watched prefix, its keys sorted by key.
	Prefixes map[string][]KV
}

// snapshotPayload is what the checksum covers.
type snapshotPayload struct {
	Format          int                     `json:"format"`
	WrittenUnixNano int64                   `json:"written_unix_nano"`
	Prefixes        map[string][]snapshotKV `json:"prefixes"`
}

type snapshotKV struct {
	Key     string `json:"key"`
	Value   []byte `json:"value"`
	Version int64  `json:"version"`
}

// snapshotEnvelope is the file: the payload exactly as written, and its
// checksum.
type snapshotEnvelope struct {
	Payload json.RawMessage `json:"payload"`
	SHA256  string          `json:"sha256"`
}

// WriteSnapshotFile replaces path with snap atomically, readable by its
// owner only (it names every tablet's host and ports). The directory is
// created if needed.
func WriteSnapshotFile(path string, snap Snapshot) error {
	payload := snapshotPayload{Format: snapshotFormat, WrittenUnixNano: snap.WrittenAt.UnixNano(), Prefixes: map[string][]snapshotKV{}}
	for prefix, kvs := range snap.Prefixes {
		out := make([]snapshotKV, len(kvs))
		for i, kv := range kvs {
			out[i] = snapshotKV(kv)
		}
		payload.Prefixes[prefix] = out
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("topology snapshot %s: encode: %w", path, err)
	}
	sum := sha256.Sum256(body)
	data, err := json.Marshal(snapshotEnvelope{Payload: body, SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		return fmt.Errorf("topology snapshot %s: encode: %w", path, err)
	}
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("topology snapshot %s: %w", path, err)
	}
	return nil
}

// ReadSnapshotFile reads a file WriteSnapshotFile wrote. A missing file is
// an error satisfying errors.Is(err, os.ErrNotExist); a damaged, altered
// or foreign one is refused with an error saying why.
func ReadSnapshotFile(path string) (Snapshot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Snapshot{}, fmt.Errorf("topology snapshot: %w", err)
	}
	var env snapshotEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		return Snapshot{}, fmt.Errorf("topology snapshot %s is damaged (not the JSON a gate writes): %w", path, err)
	}
	if len(env.Payload) == 0 || env.SHA256 == "" {
		return Snapshot{}, fmt.Errorf("topology snapshot %s is damaged: no payload or no checksum", path)
	}
	sum := sha256.Sum256(env.Payload)
	if hex.EncodeToString(sum[:]) != env.SHA256 {
		return Snapshot{}, fmt.Errorf("topology snapshot %s is damaged or was changed: its checksum does not match its contents", path)
	}
	var payload snapshotPayload
	if err := json.Unmarshal(env.Payload, &payload); err != nil {
		return Snapshot{}, fmt.Errorf("topology snapshot %s is damaged: %w", path, err)
	}
	if payload.Format != snapshotFormat {
		return Snapshot{}, fmt.Errorf("topology snapshot %s has format %d, this gate reads format %d", path, payload.Format, snapshotFormat)
	}
	snap := Snapshot{WrittenAt: time.Unix(0, payload.WrittenUnixNano), Prefixes: make(map[string][]KV, len(payload.Prefixes))}
	for prefix, kvs := range payload.Prefixes {
		out := make([]KV, len(kvs))
		for i, kv := range kvs {
			out[i] = KV(kv)
		}
		snap.Prefixes[prefix] = out
	}
	return snap, nil
}

// writeFileAtomic writes data to a temporary file (mode 0600) beside path,
// syncs it and renames it over path, then syncs the directory, so that a
// crash leaves the old file or the new one.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600 already; say so, whatever the umask.
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		// Best effort: the rename is done; syncing makes it survive a crash.
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
