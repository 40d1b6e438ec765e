package backupstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// ErrNotFound is returned (wrapped) for a backup or object that does not
// exist.
var ErrNotFound = errors.New("not found")

// Shard is the part of a store that holds one shard's backups and binlogs.
// It is a value: copy it freely.
type Shard struct {
	store           *Store
	Keyspace, Shard string
}

// Shard returns the part of the store for keyspace/shard.
func (s *Store) Shard(keyspace, shard string) Shard {
	return Shard{store: s, Keyspace: keyspace, Shard: shard}
}

// prefix is the shard's key prefix, ending in "/".
func (sh Shard) prefix() string {
	return url.PathEscape(sh.Keyspace) + "/" + url.PathEscape(sh.Shard) + "/"
}

func (sh Shard) String() string { return sh.Keyspace + "/" + sh.Shard + " in " + sh.store.url }

// putAttempts and putBackoff bound the retries of one object write.
const (
	putAttempts = 5
	putBackoff  = 250 * time.Millisecond
)

// put stores data at key (relative to the shard), retrying failed writes
// with exponential backoff. It returns the hex sha256 of data. An object
// is either written whole or not at all: the blob API publishes it only
// when the write (or multipart upload) completes.
func (sh Shard) put(ctx context.Context, key string, data []byte) (string, error) {
	sum := sha256.Sum256(data)
	full := sh.prefix() + key
	var err error
	for attempt := 0; attempt < putAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return "", fmt.Errorf("store %s: %w (after: %v)", full, ctx.Err(), err)
			case <-time.After(putBackoff << (attempt - 1)):
			}
		}
		err = sh.store.bucket.WriteAll(ctx, full, data, &blob.WriterOptions{
			ContentType: "application/octet-stream",
			// 8 MiB parts: an object larger than this goes up as a
			// multipart upload, aborted by the driver when it fails.
			BufferSize: 8 << 20,
		})
		if err == nil {
			return hex.EncodeToString(sum[:]), nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return "", fmt.Errorf("store %s in %s: %d attempts failed: %w", full, sh.store.url, putAttempts, err)
}

// putStream stores at key (relative to the shard) what write produces,
// retrying like put: write is called again for every attempt and must
// produce the same bytes. It returns the hex sha256 and size of what was
// stored. An attempt that fails is aborted, so no partial object remains.
func (sh Shard) putStream(ctx context.Context, key string, write func(io.Writer) error) (string, int64, error) {
	full := sh.prefix() + key
	var err error
	for attempt := 0; attempt < putAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return "", 0, fmt.Errorf("store %s: %w (after: %v)", full, ctx.Err(), err)
			case <-time.After(putBackoff << (attempt - 1)):
			}
		}
		var sum string
		var n int64
		if sum, n, err = sh.putOnce(ctx, full, write); err == nil {
			return sum, n, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return "", 0, fmt.Errorf("store %s in %s: %d attempts failed: %w", full, sh.store.url, putAttempts, err)
}

func (sh Shard) putOnce(ctx context.Context, full string, write func(io.Writer) error) (string, int64, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel() // cancelling before Close aborts the write
	w, err := sh.store.bucket.NewWriter(wctx, full, &blob.WriterOptions{ContentType: "application/octet-stream", BufferSize: 8 << 20})
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(w, h)}
	if err := write(cw); err != nil {
		cancel()
		_ = w.Close()
		return "", 0, err
	}
	if err := w.Close(); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// get reads the object at key (relative to the shard).
func (sh Shard) get(ctx context.Context, key string) ([]byte, error) {
	full := sh.prefix() + key
	data, err := sh.store.bucket.ReadAll(ctx, full)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("%s in %s: %w", full, sh.store.url, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s from %s: %w", full, sh.store.url, err)
	}
	return data, nil
}

// open streams the object at key (relative to the shard).
func (sh Shard) open(ctx context.Context, key string) (io.ReadCloser, error) {
	full := sh.prefix() + key
	r, err := sh.store.bucket.NewReader(ctx, full, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("%s in %s: %w", full, sh.store.url, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s from %s: %w", full, sh.store.url, err)
	}
	return r, nil
}

// list returns the keys (relative to the shard) under dir, and, with
// delimiter, the "subdirectories" (ending in "/").
func (sh Shard) list(ctx context.Context, dir string, delimiter bool) ([]string, error) {
	opts := &blob.ListOptions{Prefix: sh.prefix() + dir}
	if delimiter {
		opts.Delimiter = "/"
	}
	it := sh.store.bucket.List(opts)
	var keys []string
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return keys, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list %s in %s: %w", opts.Prefix, sh.store.url, err)
		}
		keys = append(keys, strings.TrimPrefix(obj.Key, sh.prefix()))
	}
}

// sizes returns the keys (relative to the shard) under dir with their
// sizes.
func (sh Shard) sizes(ctx context.Context, dir string) (map[string]int64, error) {
	it := sh.store.bucket.List(&blob.ListOptions{Prefix: sh.prefix() + dir})
	out := map[string]int64{}
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list %s%s in %s: %w", sh.prefix(), dir, sh.store.url, err)
		}
		out[strings.TrimPrefix(obj.Key, sh.prefix())] = obj.Size
	}
}

// deleteAll removes every object under dir (relative to the shard).
func (sh Shard) deleteAll(ctx context.Context, dir string) error {
	keys, err := sh.list(ctx, dir, false)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := sh.delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

func (sh Shard) delete(ctx context.Context, key string) error {
	err := sh.store.bucket.Delete(ctx, sh.prefix()+key)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("delete %s%s from %s: %w", sh.prefix(), key, sh.store.url, err)
	}
	return nil
}

// verifySHA256 checks data against a hex sha256.
func verifySHA256(data []byte, want, what string) error {
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); !bytes.Equal([]byte(got), []byte(want)) {
		return fmt.Errorf("%s is corrupt: sha256 %s, the manifest says %s", what, got, want)
	}
	return nil
}
