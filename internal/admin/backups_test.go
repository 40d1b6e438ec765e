package admin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/proto/topopb"
)

func TestParseShardRefs(t *testing.T) {
	ctx := context.Background()
	ts := newTopo(t)
	if err := CreateKeyspace(ctx, ts, "ks", []string{"-80", "80-"}, true); err != nil {
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
	ts := newTopo(t)
	if err := CreateKeyspace(ctx, ts, "ks", []string{"-80", "80-"}, true); err != nil {
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
