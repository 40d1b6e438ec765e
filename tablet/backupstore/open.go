package backupstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file://
	_ "gocloud.dev/blob/gcsblob"  // gs://
	_ "gocloud.dev/blob/s3blob"   // s3://
)

// Store is an open backup store. Its methods may be called concurrently.
// Close releases it.
type Store struct {
	url    string // as given, for messages
	bucket *blob.Bucket
	// s3Bucket and s3Prefix are set for s3:// stores, for the calls the
	// portable API lacks (listing and aborting multipart uploads).
	s3Bucket, s3Prefix string
}

// Open opens the store at rawURL:
//
//	file:///var/backups/shardgate       a directory (created when missing)
//	/var/backups/shardgate              the same: a path without a scheme
//	s3://bucket/prefix?region=us-east-1&endpoint=http://127.0.0.1:7070&use_path_style=true
//	gs://bucket/prefix
//
// s3:// takes its credentials from the AWS SDK's usual sources
// (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, an instance
// role); endpoint, region and use_path_style (path-style addressing, which
// most S3-compatible servers want) are URL parameters. gs:// uses Google's
// application default credentials. A path after the bucket is a key
// prefix.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	if rawURL == "" {
		return nil, errors.New("backup storage: no URL given (e.g. file:///var/backups/shardgate or s3://bucket/prefix)")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("backup storage %q: %w", rawURL, err)
	}
	s := &Store{url: redact(u)}
	q := u.Query()
	switch u.Scheme {
	case "", "file":
		// file://data/backups reads as host "data" and path "/backups":
		// refuse it rather than write to /backups.
		if u.Scheme == "file" && u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("backup storage %q: a file URL takes an absolute path after file:// (file:///data/backups), not a host %q; give a relative directory without a scheme (data/backups)", rawURL, u.Host)
		}
		dir := u.Path
		if u.Scheme == "" {
			dir = rawURL
		}
		if dir == "" {
			return nil, fmt.Errorf("backup storage %q: no directory", rawURL)
		}
		if dir, err = filepath.Abs(dir); err != nil {
			return nil, fmt.Errorf("backup storage %q: %w", rawURL, err)
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("backup storage %q: %w", rawURL, err)
		}
		// metadata=skip: no .attrs file beside every object.
		u = &url.URL{Scheme: "file", Path: dir, RawQuery: "metadata=skip"}
	case "s3", "gs":
		if u.Host == "" {
			return nil, fmt.Errorf("backup storage %q: no bucket", rawURL)
		}
		if p := strings.Trim(u.Path, "/"); p != "" {
			q.Set("prefix", p+"/")
		}
		if u.Scheme == "s3" {
			s.s3Bucket, s.s3Prefix = u.Host, q.Get("prefix")
		}
		u = &url.URL{Scheme: u.Scheme, Host: u.Host, RawQuery: q.Encode()}
	default:
		return nil, fmt.Errorf("backup storage %q: scheme %q is not supported: use file://, s3:// or gs://", rawURL, u.Scheme)
	}
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("backup storage %s: %w", s.url, err)
	}
	s.bucket = b
	return s, nil
}

// redact drops credentials from a URL for messages.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// URL is the store's URL without credentials.
func (s *Store) URL() string { return s.url }

// Close releases the store.
func (s *Store) Close() error { return s.bucket.Close() }
