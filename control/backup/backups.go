package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

// Backups are taken, restored, verified, listed and pruned by the shard's
// tablets (the tablet is the only way to a shard's server, and holds the
// backup store's settings): these functions find the tablet and relay the
// call and its progress. opts carry how to reach tablets (TLS).

// ShardRef names a shard, or every shard of a keyspace when Shard is "".
type ShardRef struct{ Keyspace, Shard string }

func (r ShardRef) String() string { return r.Keyspace + "/" + r.Shard }

// ParseShardRefs reads "ks/shard" (one shard) or "ks" (every shard of ks,
// in key order).
func ParseShardRefs(ctx context.Context, ts *topo.Server, arg string) ([]ShardRef, error) {
	ks, shard, one := strings.Cut(arg, "/")
	if ks == "" || (one && shard == "") {
		return nil, fmt.Errorf("%q: name a shard as keyspace/shard (commerce/-80) or a keyspace (commerce)", arg)
	}
	if one {
		if _, err := ts.GetShard(ctx, ks, shard); err != nil {
			return nil, err
		}
		return []ShardRef{{ks, shard}}, nil
	}
	shards, err := ts.ListShards(ctx, ks)
	if err != nil {
		return nil, err
	}
	if len(shards) == 0 {
		return nil, fmt.Errorf("keyspace %s has no shard", ks)
	}
	refs := make([]ShardRef, len(shards))
	for i, s := range shards {
		refs[i] = ShardRef{ks, s.Name}
	}
	return refs, nil
}

// backupTablet returns the tablet named by alias, or the shard's primary.
func backupTablet(ctx context.Context, ts *topo.Server, ref ShardRef, alias string) (*topopb.Tablet, error) {
	if alias == "" {
		s, err := ts.GetShard(ctx, ref.Keyspace, ref.Shard)
		if err != nil {
			return nil, err
		}
		if s.PrimaryAlias == "" {
			return nil, fmt.Errorf("shard %s has no primary tablet: name one with --tablet", ref)
		}
		alias = s.PrimaryAlias
	}
	t, err := ts.GetTablet(ctx, alias)
	if err != nil {
		return nil, err
	}
	if t.Keyspace != ref.Keyspace || t.Shard != ref.Shard {
		return nil, fmt.Errorf("tablet %s serves %s/%s, not %s", alias, t.Keyspace, t.Shard, ref)
	}
	return t, nil
}

// withBackupService calls fn with a client of the tablet's backup service.
func withBackupService(ctx context.Context, ts *topo.Server, ref ShardRef, alias string, opts []control.Option, fn func(backuppb.BackupServiceClient, *topopb.Tablet) error) error {
	t, err := backupTablet(ctx, ts, ref, alias)
	if err != nil {
		return err
	}
	conn, err := control.DialTablet(t, opts...)
	if err != nil {
		return err
	}
	defer conn.Close()
	return fn(conn.Backup(), t)
}

// backupRPCError says which tablet failed and, when it has no backup
// service, how to give it one.
func backupRPCError(err error, t *topopb.Tablet) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Unimplemented:
		return fmt.Errorf("tablet %s has no backup storage: start it with --backup-storage", t.Alias)
	case codes.Unavailable, codes.DeadlineExceeded:
		return fmt.Errorf("tablet %s at %s: %s", t.Alias, control.TabletAddr(t), control.DescribeRPCError(err))
	}
	return errors.New(st.Message())
}

// follow reads a progress stream to its end, passing each message to
// report, and returns the last one.
func follow(stream grpc.ServerStreamingClient[backuppb.Progress], t *topopb.Tablet, report func(*backuppb.Progress)) (*backuppb.Progress, error) {
	var last *backuppb.Progress
	for {
		p, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if last == nil || !last.Done {
				return last, fmt.Errorf("tablet %s ended the operation without a result", t.Alias)
			}
			return last, nil
		}
		if err != nil {
			return last, backupRPCError(err, t)
		}
		last = p
		if report != nil {
			report(p)
		}
	}
}

// Backup has the shard's tablet take a backup: alias, or else a healthy
// rdonly or replica tablet (backupSource), or else the primary. The
// manifest's name ends with the alias of the tablet that took it.
func Backup(ctx context.Context, ts *topo.Server, ref ShardRef, alias, engine string, report func(*backuppb.Progress), opts ...control.Option) (*backuppb.Manifest, error) {
	if alias == "" {
		alias = backupSource(ctx, ts, ref, opts)
	}
	var m *backuppb.Manifest
	err := withBackupService(ctx, ts, ref, alias, opts, func(c backuppb.BackupServiceClient, t *topopb.Tablet) error {
		stream, err := c.Backup(ctx, &backuppb.BackupRequest{Keyspace: ref.Keyspace, Shard: ref.Shard, Engine: engine})
		if err != nil {
			return backupRPCError(err, t)
		}
		last, err := follow(stream, t, report)
		if err != nil {
			return err
		}
		m = last.Manifest
		return nil
	})
	return m, err
}

// Restore has the shard's tablet carry out req (its keyspace and shard are
// filled in from ref).
func Restore(ctx context.Context, ts *topo.Server, ref ShardRef, alias string, req *backuppb.RestoreRequest, report func(*backuppb.Progress), opts ...control.Option) error {
	req.Keyspace, req.Shard = ref.Keyspace, ref.Shard
	return withBackupService(ctx, ts, ref, alias, opts, func(c backuppb.BackupServiceClient, t *topopb.Tablet) error {
		stream, err := c.Restore(ctx, req)
		if err != nil {
			return backupRPCError(err, t)
		}
		_, err = follow(stream, t, report)
		return err
	})
}

// VerifyBackup has the shard's tablet restore a backup (empty: the latest)
// into a scratch server and compare it with its manifest. The result is
// returned also when they differ, with an error. A stream that ends
// without a result is an error: nothing was verified.
func VerifyBackup(ctx context.Context, ts *topo.Server, ref ShardRef, alias, name string, report func(*backuppb.Progress), opts ...control.Option) (*backuppb.VerifyResult, error) {
	var res *backuppb.VerifyResult
	err := withBackupService(ctx, ts, ref, alias, opts, func(c backuppb.BackupServiceClient, t *topopb.Tablet) error {
		stream, err := c.Verify(ctx, &backuppb.VerifyRequest{Keyspace: ref.Keyspace, Shard: ref.Shard, Backup: name})
		if err != nil {
			return backupRPCError(err, t)
		}
		res, err = followVerify(stream, t, report)
		return err
	})
	return res, err
}

// followVerify reads a verification's progress stream: its last message
// carries the result, followed by an error when the backup differs.
func followVerify(stream grpc.ServerStreamingClient[backuppb.Progress], t *topopb.Tablet, report func(*backuppb.Progress)) (*backuppb.VerifyResult, error) {
	last, err := follow(stream, t, report)
	var res *backuppb.VerifyResult
	if last != nil && last.Done {
		res = last.Verify
	}
	if err == nil && res == nil {
		err = fmt.Errorf("tablet %s ended the verification without a result", t.Alias)
	}
	return res, err
}

// ListBackups lists the shard's backups and archived binlogs.
func ListBackups(ctx context.Context, ts *topo.Server, ref ShardRef, alias string, opts ...control.Option) (*backuppb.ListBackupsResponse, error) {
	var resp *backuppb.ListBackupsResponse
	err := withBackupService(ctx, ts, ref, alias, opts, func(c backuppb.BackupServiceClient, t *topopb.Tablet) error {
		var err error
		resp, err = c.ListBackups(ctx, &backuppb.ListBackupsRequest{Keyspace: ref.Keyspace, Shard: ref.Shard})
		if err != nil {
			return backupRPCError(err, t)
		}
		return nil
	})
	return resp, err
}

// PruneBackups keeps the shard's newest keep backups.
func PruneBackups(ctx context.Context, ts *topo.Server, ref ShardRef, alias string, keep int, opts ...control.Option) (*backuppb.PruneResponse, error) {
	var resp *backuppb.PruneResponse
	err := withBackupService(ctx, ts, ref, alias, opts, func(c backuppb.BackupServiceClient, t *topopb.Tablet) error {
		var err error
		resp, err = c.Prune(ctx, &backuppb.PruneRequest{Keyspace: ref.Keyspace, Shard: ref.Shard, Keep: int32(keep)})
		if err != nil {
			return backupRPCError(err, t)
		}
		return nil
	})
	return resp, err
}

// ArchiveBinlogs has the shard's tablet archive its closed binlog files
// (with flush, the current one too).
func ArchiveBinlogs(ctx context.Context, ts *topo.Server, ref ShardRef, alias string, flush bool, opts ...control.Option) (*backuppb.ArchiveBinlogsResponse, error) {
	var resp *backuppb.ArchiveBinlogsResponse
	err := withBackupService(ctx, ts, ref, alias, opts, func(c backuppb.BackupServiceClient, t *topopb.Tablet) error {
		var err error
		resp, err = c.ArchiveBinlogs(ctx, &backuppb.ArchiveBinlogsRequest{Keyspace: ref.Keyspace, Shard: ref.Shard, Flush: flush})
		if err != nil {
			return backupRPCError(err, t)
		}
		return nil
	})
	return resp, err
}

// ParseRestoreTime reads a moment to restore to: RFC 3339
// (2026-11-30T08:45:12Z), a UTC "2026-11-30 08:45:12[.fff]", or Unix
// seconds (with a fraction).
func ParseRestoreTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", s, time.UTC); err == nil {
		return t, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
	}
	return time.Time{}, fmt.Errorf("time %q: use RFC 3339 (2026-11-30T08:45:12Z), \"2026-11-30 08:45:12\" (UTC) or Unix seconds", s)
}
