package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/control/backup"
	"github.com/shardgate/shardgate/internal/units"
	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/topo"
)

func backupCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Back shards up to object storage, list, verify, prune and restore backups",
		Long: `Back shards up to the backup store their tablets are configured with
(--backup-storage: file://, s3:// or gs://), and restore them: to a backup,
to a moment or GTID position (replaying archived binlogs), whole or only
some tables, in place or into another database.

SHARD is keyspace/shard (commerce/-80), or a keyspace (commerce) for every
one of its shards. The shard's primary tablet does the work unless --tablet
names another; a backup is taken from a healthy rdonly or replica tablet
(replication running, lag within 30 s) when the shard has one, so that its
reads do not load the primary.`,
	}
	tablet := cmd.PersistentFlags().String("tablet", "", "tablet alias to do the work (default: the shard's primary; for create, a healthy replica when there is one)")
	cmd.AddCommand(backupCreate(a, tablet), backupList(a, tablet), backupRestore(a, tablet), backupVerify(a, tablet),
		backupPrune(a, tablet), backupArchiveBinlogs(a, tablet))
	return cmd
}

// backupCreate is `backup create`: take a backup.
func backupCreate(a *app, tablet *string) *cobra.Command {
	var engine string
	create := &cobra.Command{
		Use:   "create SHARD",
		Short: "Take a backup (online, from a consistent snapshot)",
		Args:  cobra.ExactArgs(1),
		RunE: forShards(a, func(ctx context.Context, ts *topo.Server, ref backup.ShardRef, pr *progressPrinter, opts []control.Option) error {
			m, err := backup.Backup(ctx, ts, ref, *tablet, engine, pr.report(ref), opts...)
			if err != nil {
				return err
			}
			pr.line(ref, fmt.Sprintf("backup %s: %d tables, %d rows, %s (%s stored), position %s, %s",
				m.Name, len(m.Tables), m.Rows, units.Bytes(m.RawBytes), units.Bytes(m.StoredBytes), m.GtidPosition,
				time.Duration(m.FinishedUnixNanos-m.StartedUnixNanos).Round(time.Millisecond)))
			return nil
		}),
	}
	create.Flags().StringVar(&engine, "engine", "logical", "logical (tables in chunks; restores single tables) or physical (mariadb-backup; faster for large shards)")
	return create
}

// backupList is `backup list`: backups and archived binlogs.
func backupList(a *app, tablet *string) *cobra.Command {
	list := &cobra.Command{
		Use:   "list SHARD",
		Short: "List complete backups, incomplete ones and the archived binlogs",
		Args:  cobra.ExactArgs(1),
		RunE: forShards(a, func(ctx context.Context, ts *topo.Server, ref backup.ShardRef, pr *progressPrinter, opts []control.Option) error {
			resp, err := backup.ListBackups(ctx, ts, ref, *tablet, opts...)
			if err != nil {
				return err
			}
			pr.mu.Lock()
			defer pr.mu.Unlock()
			printBackupList(ref, resp)
			return nil
		}),
	}
	return list
}

// backupRestore is `backup restore`: a shard, some tables, or a side database.
func backupRestore(a *app, tablet *string) *cobra.Command {
	var (
		restoreReq backuppb.RestoreRequest
		toTime     string
		tables     []string
		yes        bool
	)
	restore := &cobra.Command{
		Use:   "restore SHARD",
		Short: "Restore a shard, some of its tables, or a side database",
		Long: `Restore to a backup (--backup, default the latest), or to a moment
(--to-time) or GTID position (--to-gtid) or the latest moment (--to-latest:
a whole-shard restore archives the server's current binlog first) by
replaying archived binlogs after the latest backup that precedes it. --to-time takes RFC 3339 (2026-11-30T08:45:12Z), a UTC
"2006-01-02 15:04:05", or Unix seconds; binlogs date events to the second,
so a moment includes its whole second.

Without --tables and --into-database the whole shard is replaced (the tablet
stops serving meanwhile; if the restore fails once it has begun to change the
shard, the tablet serves again only after a whole-shard restore succeeds);
this needs --yes. --tables restores only those
tables; --into-database restores into another database of the shard's
server, leaving the shard's own tables alone.`,
		Args: cobra.ExactArgs(1),
		RunE: forShards(a, func(ctx context.Context, ts *topo.Server, ref backup.ShardRef, pr *progressPrinter, opts []control.Option) error {
			req := &backuppb.RestoreRequest{Backup: restoreReq.Backup, ToGtid: restoreReq.ToGtid, ToLatest: restoreReq.ToLatest,
				IntoDatabase: restoreReq.IntoDatabase, Tables: tables}
			if toTime != "" {
				t, err := backup.ParseRestoreTime(toTime)
				if err != nil {
					return err
				}
				req.ToUnixNanos = t.UnixNano()
			}
			if len(req.Tables) == 0 && req.IntoDatabase == "" && !yes {
				return errors.New("this replaces every table of the shard: add --yes, or restore --tables or --into-database")
			}
			if err := backup.Restore(ctx, ts, ref, *tablet, req, pr.report(ref), opts...); err != nil {
				return err
			}
			pr.line(ref, "restored")
			return nil
		}),
	}
	rf := restore.Flags()
	rf.StringVar(&restoreReq.Backup, "backup", "", "backup to restore or start from (default: the latest that precedes the target)")
	rf.StringVar(&toTime, "to-time", "", "restore to this moment (replays archived binlogs)")
	rf.StringVar(&restoreReq.ToGtid, "to-gtid", "", "restore to this GTID position, inclusive (replays archived binlogs)")
	rf.BoolVar(&restoreReq.ToLatest, "to-latest", false, "restore to the latest moment (replays every archived binlog; a whole-shard restore archives the current binlog first)")
	rf.StringSliceVar(&tables, "tables", nil, "restore only these tables")
	rf.StringVar(&restoreReq.IntoDatabase, "into-database", "", "restore into this database instead of the shard's own")
	rf.BoolVar(&yes, "yes", false, "confirm a whole-shard restore in place")
	return restore
}

// backupVerify is `backup verify`: restore into a scratch server and compare checksums.
func backupVerify(a *app, tablet *string) *cobra.Command {
	var verifyName string
	verify := &cobra.Command{
		Use:   "verify SHARD",
		Short: "Restore a backup into a scratch server and compare its tables with the manifest's checksums",
		Args:  cobra.ExactArgs(1),
		RunE: forShards(a, func(ctx context.Context, ts *topo.Server, ref backup.ShardRef, pr *progressPrinter, opts []control.Option) error {
			res, err := backup.VerifyBackup(ctx, ts, ref, *tablet, verifyName, pr.report(ref), opts...)
			if res != nil {
				bad := 0
				for _, c := range res.Tables {
					if !c.Ok {
						bad++
						pr.line(ref, fmt.Sprintf("table %s DIFFERS: %d rows (want %d), checksum %016x (want %016x)",
							c.Table, c.RowsFound, c.RowsExpected, c.ChecksumFound, c.ChecksumExpected))
					}
				}
				if res.Ok {
					pr.line(ref, fmt.Sprintf("backup verified: %d tables restored with the rows and checksums of the manifest", len(res.Tables)))
				} else if err == nil {
					err = fmt.Errorf("%d tables differ from the manifest", bad)
				}
			}
			return err
		}),
	}
	verify.Flags().StringVar(&verifyName, "backup", "", "backup to verify (default: the latest)")
	return verify
}

// backupPrune is `backup prune`: delete old backups and the binlogs only they need.
func backupPrune(a *app, tablet *string) *cobra.Command {
	var keep int
	prune := &cobra.Command{
		Use:   "prune SHARD --keep N",
		Short: "Delete all but the newest N backups, the binlogs only older ones need, and incomplete backups",
		Args:  cobra.ExactArgs(1),
		RunE: forShards(a, func(ctx context.Context, ts *topo.Server, ref backup.ShardRef, pr *progressPrinter, opts []control.Option) error {
			resp, err := backup.PruneBackups(ctx, ts, ref, *tablet, keep, opts...)
			if err != nil {
				return err
			}
			pr.line(ref, fmt.Sprintf("deleted %d backups %v, %d incomplete %v, %d archived binlogs; aborted %d unfinished uploads",
				len(resp.DeletedBackups), resp.DeletedBackups, len(resp.DeletedIncomplete), resp.DeletedIncomplete, resp.DeletedBinlogs, resp.AbortedUploads))
			return nil
		}),
	}
	prune.Flags().IntVar(&keep, "keep", 0, "how many complete backups to keep (at least 1)")
	_ = prune.MarkFlagRequired("keep")
	return prune
}

// backupArchiveBinlogs is `backup archive-binlogs`: archive closed binlogs now.
func backupArchiveBinlogs(a *app, tablet *string) *cobra.Command {
	var flush bool
	archive := &cobra.Command{
		Use:   "archive-binlogs SHARD",
		Short: "Copy closed binlog files to the backup store now (tablets also do it on their own)",
		Args:  cobra.ExactArgs(1),
		RunE: forShards(a, func(ctx context.Context, ts *topo.Server, ref backup.ShardRef, pr *progressPrinter, opts []control.Option) error {
			resp, err := backup.ArchiveBinlogs(ctx, ts, ref, *tablet, flush, opts...)
			if err != nil {
				return err
			}
			pr.line(ref, fmt.Sprintf("archived %d binlog files; the archive reaches %s", len(resp.Archived), orEmpty(resp.Position)))
			return nil
		}),
	}
	archive.Flags().BoolVar(&flush, "flush", true, "close the current binlog file first, so that everything written so far is archived")
	return archive
}

// printBackupList prints one shard's backups, incomplete ones, archived
// binlogs and in-place restores.
func printBackupList(ref backup.ShardRef, resp *backuppb.ListBackupsResponse) {
	fmt.Printf("%s:\n", ref)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "  NAME\tENGINE\tSNAPSHOT (UTC)\tPOSITION\tTABLES\tROWS\tSIZE\tSTORED")
	for _, b := range resp.Backups {
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", b.Name, b.Engine,
			time.Unix(0, b.SnapshotUnixNanos).UTC().Format("2006-01-02 15:04:05.000"), b.GtidPosition,
			b.Tables, b.Rows, units.Bytes(b.RawBytes), units.Bytes(b.StoredBytes))
	}
	w.Flush()
	for _, name := range resp.Incomplete {
		fmt.Printf("  incomplete (not usable): %s\n", name)
	}
	for _, u := range resp.UnusableBackups {
		fmt.Printf("  unreadable manifest (not usable): %s: %s\n", u.Name, u.Error)
	}
	for _, u := range resp.UnusableBinlogs {
		fmt.Printf("  unreadable archived binlog description (not usable): %s: %s\n", u.Name, u.Error)
	}
	if n := len(resp.Binlogs); n > 0 {
		first, last := resp.Binlogs[0], resp.Binlogs[n-1]
		fmt.Printf("  archived binlogs: %d files, %s to %s, positions %s to %s\n", n,
			time.Unix(first.FirstEventUnix, 0).UTC().Format(time.DateTime), time.Unix(last.LastEventUnix, 0).UTC().Format(time.DateTime),
			orEmpty(first.StartPosition), last.EndPosition)
	} else {
		fmt.Println("  archived binlogs: none")
	}
	for _, r := range resp.Restores {
		fmt.Printf("  restored in place at %s from %s\n", time.Unix(0, r.RestoredUnixNanos).UTC().Format(time.DateTime), r.Backup)
	}
}

// forShards runs fn for every shard the argument names, in parallel, and
// joins their errors.
func forShards(a *app, fn func(ctx context.Context, ts *topo.Server, ref backup.ShardRef, pr *progressPrinter, opts []control.Option) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		opts, err := a.tabletOptions()
		if err != nil {
			return err
		}
		ts, err := a.openTopo(ctx)
		if err != nil {
			return err
		}
		defer ts.Close()
		refs, err := backup.ParseShardRefs(ctx, ts, args[0])
		if err != nil {
			return err
		}
		pr := newProgressPrinter(len(refs))
		errs := make([]error, len(refs))
		var wg sync.WaitGroup
		for i, ref := range refs {
			wg.Go(func() {
				if err := fn(ctx, ts, ref, pr, opts); err != nil {
					errs[i] = fmt.Errorf("%s: %w", ref, err)
				}
			})
		}
		wg.Wait()
		pr.finish()
		return errors.Join(errs...)
	}
}

// progressPrinter shows long operations: on a terminal, one line per shard
// rewritten in place; otherwise a line every few seconds.
type progressPrinter struct {
	mu       sync.Mutex
	terminal bool
	shards   int
	lastLine map[backup.ShardRef]time.Time
	pending  bool // a progress line is on screen without a newline
}

func newProgressPrinter(shards int) *progressPrinter {
	fi, err := os.Stderr.Stat()
	return &progressPrinter{terminal: err == nil && fi.Mode()&os.ModeCharDevice != 0 && shards == 1, shards: shards,
		lastLine: map[backup.ShardRef]time.Time{}}
}

func (p *progressPrinter) report(ref backup.ShardRef) func(*backuppb.Progress) {
	return func(pr *backuppb.Progress) {
		if pr.Done {
			return
		}
		text := progressText(pr)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.terminal {
			fmt.Fprintf(os.Stderr, "\r\033[K%s: %s", ref, text)
			p.pending = true
			return
		}
		if time.Since(p.lastLine[ref]) >= 5*time.Second {
			p.lastLine[ref] = time.Now()
			fmt.Fprintf(os.Stderr, "%s: %s\n", ref, text)
		}
	}
}

func (p *progressPrinter) line(ref backup.ShardRef, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending {
		fmt.Fprint(os.Stderr, "\r\033[K")
		p.pending = false
	}
	fmt.Printf("%s: %s\n", ref, text)
}

func (p *progressPrinter) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending {
		fmt.Fprintln(os.Stderr)
		p.pending = false
	}
}

func progressText(pr *backuppb.Progress) string {
	var b strings.Builder
	b.WriteString(pr.Phase)
	if pr.TablesTotal > 0 {
		fmt.Fprintf(&b, ", %d/%d tables", pr.TablesDone, pr.TablesTotal)
	}
	if pr.RowsDone > 0 {
		fmt.Fprintf(&b, ", %d rows", pr.RowsDone)
	}
	fmt.Fprintf(&b, ", %s", units.Bytes(pr.BytesDone))
	if pr.ElapsedSeconds > 0 {
		fmt.Fprintf(&b, " (%.1f MB/s)", float64(pr.BytesDone)/1e6/pr.ElapsedSeconds)
	}
	if pr.EtaSeconds >= 0 {
		fmt.Fprintf(&b, ", ETA %s", (time.Duration(pr.EtaSeconds) * time.Second).Round(time.Second))
	}
	return b.String()
}

func orEmpty(s string) string {
	if s == "" {
		return "(empty)"
	}
	return s
}
