package backup

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shardgate/shardgate/control/keyspace"
	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

func TestParseShardRefs(t *testing.T) {
	ctx := context.Background()
	ts := topo.NewServer(topo.NewMemoryStore(), "")
	if err := keyspace.CreateKeyspace(ctx, ts, "ks", []string{"-80", "80-"}, true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		arg, want, err string
	}{
		{arg: "ks", want: "ks/-80 ks/80-"},
		{arg: "ks/80-", want: "ks/80-"},
		{arg: "ks/", err: "name a shard"},
		{arg: "/x", err: "name a shard"},
		{arg: "ks/40-", err: "not found"},
		{arg: "nope", err: "no shard"},
	} {
		refs, err := ParseShardRefs(ctx, ts, tc.arg)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want %q", tc.arg, err, tc.err)
			}
			continue
		}
		var got []string
		for _, r := range refs {
			got = append(got, r.String())
		}
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%s: %v, %v; want %s", tc.arg, got, err, tc.want)
		}
	}
}

func TestBackupTabletIsThePrimaryUnlessNamed(t *testing.T) {
	ctx := context.Background()
	ts := topo.NewServer(topo.NewMemoryStore(), "")
	if err := keyspace.CreateKeyspace(ctx, ts, "ks", []string{"-80", "80-"}, true); err != nil {
		t.Fatal(err)
	}
	for _, tb := range []*topopb.Tablet{
		{Alias: "zone1-100", Keyspace: "ks", Shard: "-80", Type: topopb.TabletType_PRIMARY},
		{Alias: "zone1-101", Keyspace: "ks", Shard: "-80", Type: topopb.TabletType_REPLICA},
		{Alias: "zone1-102", Keyspace: "ks", Shard: "80-", Type: topopb.TabletType_PRIMARY},
	} {
		if err := ts.SaveTablet(ctx, tb); err != nil {
			t.Fatal(err)
		}
	}
	ref := ShardRef{"ks", "-80"}
	if _, err := backupTablet(ctx, ts, ref, ""); err == nil || !strings.Contains(err.Error(), "no primary") {
		t.Fatalf("a shard without a primary: %v", err)
	}
	if _, err := ts.UpdateShard(ctx, "ks", "-80", func(s *topopb.Shard) error { s.PrimaryAlias = "zone1-100"; return nil }); err != nil {
		t.Fatal(err)
	}
	if tb, err := backupTablet(ctx, ts, ref, ""); err != nil || tb.Alias != "zone1-100" {
		t.Fatalf("primary: %v, %v", tb, err)
	}
	if tb, err := backupTablet(ctx, ts, ref, "zone1-101"); err != nil || tb.Alias != "zone1-101" {
		t.Fatalf("named replica: %v, %v", tb, err)
	}
	if _, err := backupTablet(ctx, ts, ref, "zone1-102"); err == nil || !strings.Contains(err.Error(), "serves ks/80-") {
		t.Fatalf("a tablet of another shard: %v", err)
	}
}

func TestParseRestoreTime(t *testing.T) {
	want := time.Date(2026, 11, 30, 8, 45, 12, 500e6, time.UTC)
	for _, s := range []string{"2026-11-30T08:45:12.5Z", "2026-11-30T09:45:12.5+01:00", "2026-11-30 08:45:12.5", "1796028312.5"} {
		got, err := ParseRestoreTime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"yesterday", "", "2026-13-01"} {
		if _, err := ParseRestoreTime(s); err == nil {
			t.Errorf("%q was accepted", s)
		}
	}
}

// fakeProgress is a Verify stream that sends msgs and then ends with end
// (io.EOF: the stream closed normally).
type fakeProgress struct {
	grpc.ClientStream
	msgs []*backuppb.Progress
	end  error
}

func (f *fakeProgress) Recv() (*backuppb.Progress, error) {
	if len(f.msgs) == 0 {
		return nil, f.end
	}
	p := f.msgs[0]
	f.msgs = f.msgs[1:]
	return p, nil
}

func TestFollowVerify(t *testing.T) {
	tb := &topopb.Tablet{Alias: "zone1-100"}
	ok := &backuppb.VerifyResult{Ok: true}
	bad := &backuppb.VerifyResult{Ok: false}
	for _, tc := range []struct {
		name    string
		stream  *fakeProgress
		wantRes *backuppb.VerifyResult
		err     string
	}{
		{name: "verified", stream: &fakeProgress{msgs: []*backuppb.Progress{{Phase: "loading"}, {Done: true, Verify: ok}}, end: io.EOF}, wantRes: ok},
		{name: "differs", stream: &fakeProgress{msgs: []*backuppb.Progress{{Done: true, Verify: bad}}, end: status.Error(codes.Unknown, "backup x does not match its manifest")},
			wantRes: bad, err: "does not match"},
		// A tablet that stops streaming without a result verified nothing.
		{name: "no message", stream: &fakeProgress{end: io.EOF}, err: "without a result"},
		{name: "progress only", stream: &fakeProgress{msgs: []*backuppb.Progress{{Phase: "loading"}}, end: io.EOF}, err: "without a result"},
		{name: "done without result", stream: &fakeProgress{msgs: []*backuppb.Progress{{Done: true}}, end: io.EOF}, err: "without a result"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := followVerify(tc.stream, tb, nil)
			if res != tc.wantRes {
				t.Errorf("result %v, want %v", res, tc.wantRes)
			}
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
		})
	}
}
