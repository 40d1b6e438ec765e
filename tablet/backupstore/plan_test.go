package backupstore

import (
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/proto/backuppb"
)

func at(sec int64) time.Time { return time.Unix(sec, 0) }

func backup(name string, sec int64, pos string) *backuppb.Manifest {
	return &backuppb.Manifest{Name: name, SnapshotUnixNanos: sec * 1e9, GtidPosition: pos}
}

func binlog(file, start, end string, first, last int64) *backuppb.BinlogArchive {
	return &backuppb.BinlogArchive{Key: BinlogKey(gtidpos.MustParse(start), file), File: file,
		StartPosition: start, EndPosition: end, FirstEventUnix: first, LastEventUnix: last}
}

func TestPlanRestore(t *testing.T) {
	backups := []*backuppb.Manifest{
		backup("b1", 100, "0-1-10"),
		backup("b2", 200, "0-1-20"),
	}
	// Files: 1-10 (to second 110), 10-15 (to 150), 15-25 (to 250), 25-30 (to 300).
	binlogs := []*backuppb.BinlogArchive{
		binlog("f1", "", "0-1-10", 50, 110),
		binlog("f2", "0-1-10", "0-1-15", 110, 150),
		binlog("f3", "0-1-15", "0-1-25", 150, 250),
		binlog("f4", "0-1-25", "0-1-30", 250, 300),
	}
	files := func(p *Plan) string {
		var names []string
		for _, e := range p.Binlogs {
			names = append(names, e.File)
		}
		return strings.Join(names, ",")
	}
	for _, tc := range []struct {
		name    string
		target  Target
		backups []*backuppb.Manifest
		binlogs []*backuppb.BinlogArchive
		markers []*backuppb.RestoreMarker
		backup  string
		files   string
		end     string
		err     string
	}{
		{name: "latest backup", target: Target{Kind: ToBackup}, backup: "b2", end: "0-1-20"},
		{name: "named backup", target: Target{Kind: ToBackup, Backup: "b1"}, backup: "b1", end: "0-1-10"},
		{name: "missing backup", target: Target{Kind: ToBackup, Backup: "nope"}, err: "not found"},
		{name: "latest with binlogs", target: Target{Kind: ToLatest}, backup: "b2", files: "f3,f4", end: "0-1-30"},
		{name: "gtid between backups", target: Target{Kind: ToGTID, GTID: gtidpos.MustParse("0-1-12")}, backup: "b1", files: "f2", end: "0-1-12"},
		{name: "gtid at a backup", target: Target{Kind: ToGTID, GTID: gtidpos.MustParse("0-1-20")}, backup: "b2", files: "", end: "0-1-20"},
		{name: "gtid past the archive", target: Target{Kind: ToGTID, GTID: gtidpos.MustParse("0-1-31")}, err: "reach only 0-1-30"},
		{name: "time between backups", target: Target{Kind: ToTime, Time: at(160)}, backup: "b1", files: "f2,f3"},
		{name: "time in the last file", target: Target{Kind: ToTime, Time: at(260)}, backup: "b2", files: "f3,f4"},
		{name: "time past the archive", target: Target{Kind: ToTime, Time: at(300)}, err: "reach only"},
		{name: "time before every backup", target: Target{Kind: ToTime, Time: at(90)}, err: "no backup precedes"},
		{name: "named backup after the target", target: Target{Kind: ToTime, Time: at(150), Backup: "b2"}, err: "later than the target"},
		{name: "gap", target: Target{Kind: ToLatest},
			binlogs: []*backuppb.BinlogArchive{binlog("f3", "0-1-15", "0-1-25", 150, 250), binlog("f5", "0-1-26", "0-1-30", 260, 300)},
			err:     "missing between 0-1-25 and 0-1-26"},
		// A server whose binlog went back to 0-1-22 after the archive held
		// 0-1-25: its file starts inside f3, not where f3 ends.
		{name: "two histories", target: Target{Kind: ToLatest},
			binlogs: []*backuppb.BinlogArchive{binlog("f3", "0-1-15", "0-1-25", 150, 250), binlog("g1", "0-1-22", "0-1-40", 260, 300)},
			err:     "two histories"},
		// The same sequence numbers from another server: not a continuation.
		{name: "another server's numbers", target: Target{Kind: ToLatest},
			binlogs: []*backuppb.BinlogArchive{binlog("f3", "0-1-15", "0-1-25", 150, 250), binlog("g1", "0-2-25", "0-2-30", 260, 300)},
			err:     "two histories"},
		{name: "empty files continue the chain", target: Target{Kind: ToTime, Time: at(330)},
			binlogs: []*backuppb.BinlogArchive{binlog("f3", "0-1-15", "0-1-25", 150, 250), binlog("f4", "0-1-25", "0-1-25", 250, 320), binlog("f5", "0-1-25", "0-1-25", 320, 400)},
			backup:  "b2", files: "f3,f4,f5"},
		{name: "restored in place after the backup", target: Target{Kind: ToTime, Time: at(260)},
			markers: []*backuppb.RestoreMarker{{RestoredUnixNanos: 230e9, Backup: "b1"}}, err: "restored in place"},
		{name: "restored in place after the target", target: Target{Kind: ToTime, Time: at(220)},
			markers: []*backuppb.RestoreMarker{{RestoredUnixNanos: 230e9, Backup: "b1"}}, backup: "b2", files: "f3"},
		{name: "no backup", target: Target{Kind: ToLatest}, backups: []*backuppb.Manifest{}, err: "no complete backup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, l := backups, binlogs
			if tc.backups != nil {
				b = tc.backups
			}
			if tc.binlogs != nil {
				l = tc.binlogs
			}
			p, err := PlanRestore(b, l, tc.markers, tc.target)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Backup.Name != tc.backup || files(p) != tc.files {
				t.Fatalf("plan: backup %s, binlogs %q; want %s, %q", p.Backup.Name, files(p), tc.backup, tc.files)
			}
			if tc.end != "" && p.End.String() != tc.end {
				t.Fatalf("end = %s, want %s", p.End, tc.end)
			}
			if tc.target.Kind == ToTime && !p.StopBefore.Equal(tc.target.Time.Add(time.Second)) {
				t.Fatalf("stop before %v, want the second after %v", p.StopBefore, tc.target.Time)
			}
		})
	}
}
