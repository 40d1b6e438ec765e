package backupstore

import (
	"errors"
	"fmt"
	"time"

	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/proto/backuppb"
)

// TargetKind says how far a restore goes.
type TargetKind int

const (
	// ToBackup restores a backup as it was taken.
	ToBackup TargetKind = iota
	// ToLatest restores a backup and replays every archived binlog after it.
	ToLatest
	// ToGTID replays archived binlogs up to a GTID position, inclusive.
	ToGTID
	// ToTime replays archived binlogs up to a moment: every transaction
	// the binlog dates at or before it. Binlogs date events to the second,
	// so a moment stands for the whole second it falls in.
	ToTime
)

// Target is where a restore should bring the shard.
type Target struct {
	Kind TargetKind
	GTID gtidpos.Position // ToGTID
	Time time.Time        // ToTime
	// Backup names the backup to start from; empty: the latest one that
	// precedes the target.
	Backup string
}

// Plan is what a restore does: load Backup, then replay Binlogs in order.
type Plan struct {
	// Kind is the kind of target the plan reaches.
	Kind    TargetKind
	Backup  *backuppb.Manifest
	Binlogs []*backuppb.BinlogArchive
	// StopGTID (ToGTID) is the last transaction to replay.
	StopGTID gtidpos.Position
	// StopBefore (ToTime) is the first binlog second not to replay.
	StopBefore time.Time
	// End is the GTID position the shard is at after the restore when it
	// is known in advance (all but ToTime).
	End gtidpos.Position
}

// PlanRestore chooses the backup and archived binlogs that reach t.
// backups, binlogs and markers are as listed by the store, oldest first.
func PlanRestore(backups []*backuppb.Manifest, binlogs []*backuppb.BinlogArchive, markers []*backuppb.RestoreMarker, t Target) (*Plan, error) {
	if len(backups) == 0 {
		return nil, errors.New("there is no complete backup of the shard")
	}
	base, err := chooseBackup(backups, t)
	if err != nil {
		return nil, err
	}
	start, err := gtidpos.Parse(base.GtidPosition)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", base.Name, err)
	}
	p := &Plan{Kind: t.Kind, Backup: base, End: start}
	if t.Kind == ToBackup {
		return p, nil
	}
	for _, m := range markers {
		if m.RestoredUnixNanos > base.SnapshotUnixNanos && (t.Kind != ToTime || m.RestoredUnixNanos <= t.Time.UnixNano()) {
			return nil, fmt.Errorf("the shard was restored in place at %s (from backup %s), after backup %s: binlogs cannot be replayed across that restore; start from a backup taken after it",
				time.Unix(0, m.RestoredUnixNanos).UTC().Format(time.RFC3339), m.Backup, base.Name)
		}
	}
	chain, err := binlogChain(binlogs, start)
	if err != nil {
		return nil, fmt.Errorf("from backup %s: %w", base.Name, err)
	}
	switch t.Kind {
	case ToLatest:
		p.Binlogs = chain
		if len(chain) > 0 {
			p.End = gtidpos.MustParse(chain[len(chain)-1].EndPosition)
		}
	case ToGTID:
		p.StopGTID, p.End = t.GTID, t.GTID
		if start.AtLeast(t.GTID) {
			return p, nil
		}
		for _, e := range chain {
			p.Binlogs = append(p.Binlogs, e)
			if gtidpos.MustParse(e.EndPosition).AtLeast(t.GTID) {
				return p, nil
			}
		}
		return nil, fmt.Errorf("archived binlogs after backup %s reach only %s, not %s: archive the current binlog (`shardctl backup archive-binlogs`) or choose an earlier position",
			base.Name, reach(chain, start), t.GTID)
	case ToTime:
		p.StopBefore = t.Time.Truncate(time.Second).Add(time.Second)
		p.End = nil
		stop := p.StopBefore.Unix()
		covered := false
		for _, e := range chain {
			if e.FirstEventUnix >= stop {
				covered = true
				break
			}
			p.Binlogs = append(p.Binlogs, e)
			// A file's last event is the rotation to the next file: once
			// it is past the target, the file holds all up to it.
			if e.LastEventUnix >= stop {
				covered = true
				break
			}
		}
		if !covered {
			last := "none archived after the backup"
			if n := len(chain); n > 0 {
				last = time.Unix(chain[n-1].LastEventUnix, 0).UTC().Format(time.RFC3339)
			}
			return nil, fmt.Errorf("archived binlogs after backup %s reach only %s, not %s: archive the current binlog (`shardctl backup archive-binlogs`) or choose an earlier moment",
				base.Name, last, t.Time.UTC().Format(time.RFC3339Nano))
		}
	}
	return p, nil
}

func reach(chain []*backuppb.BinlogArchive, start gtidpos.Position) string {
	if len(chain) == 0 {
		return start.String()
	}
	return chain[len(chain)-1].EndPosition
}

// chooseBackup returns the named backup, or the latest one that precedes
// the target.
func chooseBackup(backups []*backuppb.Manifest, t Target) (*backuppb.Manifest, error) {
	precedes := func(m *backuppb.Manifest) bool {
		switch t.Kind {
		case ToTime:
			return m.SnapshotUnixNanos <= t.Time.UnixNano()
		case ToGTID:
			pos, err := gtidpos.Parse(m.GtidPosition)
			return err == nil && t.GTID.AtLeast(pos)
		}
		return true
	}
	if t.Backup != "" {
		for _, m := range backups {
			if m.Name == t.Backup {
				if !precedes(m) {
					return nil, fmt.Errorf("backup %s (at %s, position %s) is later than the target", m.Name,
						time.Unix(0, m.SnapshotUnixNanos).UTC().Format(time.RFC3339), m.GtidPosition)
				}
				return m, nil
			}
		}
		return nil, fmt.Errorf("backup %s: %w (or it is incomplete)", t.Backup, ErrNotFound)
	}
	for i := len(backups) - 1; i >= 0; i-- {
		if precedes(backups[i]) {
			return backups[i], nil
		}
	}
	return nil, fmt.Errorf("no backup precedes the target: the oldest is %s, from %s at position %s",
		backups[0].Name, time.Unix(0, backups[0].SnapshotUnixNanos).UTC().Format(time.RFC3339), backups[0].GtidPosition)
}

// binlogChain returns the archived files that hold the transactions after
// start, in order. The first file holds start (or begins at it); every
// later one must begin exactly where the one before it ends. A file that
// begins before that end and goes past it belongs to another history (a
// server whose GTIDs went back, another server's copy of the same
// transactions) and is refused rather than replayed; a hole between two
// files is refused as missing binlogs.
func binlogChain(binlogs []*backuppb.BinlogArchive, start gtidpos.Position) ([]*backuppb.BinlogArchive, error) {
	var chain []*backuppb.BinlogArchive
	at := start
	for _, e := range binlogs {
		s, err1 := gtidpos.Parse(e.StartPosition)
		end, err2 := gtidpos.Parse(e.EndPosition)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("archived binlog %s: %w", e.Key, err)
		}
		empty := s.Same(end)
		if at.AtLeast(end) && (len(chain) == 0 || !empty || !s.Same(at)) {
			continue // wholly before where we are
		}
		if !at.AtLeast(s) {
			return nil, fmt.Errorf("archived binlogs are missing between %s and %s (file %s starts there)", at, s, e.File)
		}
		if len(chain) > 0 && !s.Same(at) {
			prev := chain[len(chain)-1]
			return nil, fmt.Errorf("archived binlog %s (key %s) starts at %s, not where %s (key %s) ends, %s: the archive holds two histories that overlap; remove the files that do not belong to the shard's history",
				e.File, e.Key, s, prev.File, prev.Key, at)
		}
		chain = append(chain, e)
		at = end
	}
	return chain, nil
}
