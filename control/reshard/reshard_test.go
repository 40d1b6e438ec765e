package reshard

import (
	"strings"
	"testing"

	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/vindex"
)

func refs(t *testing.T, names ...string) []*topopb.ShardReference {
	t.Helper()
	var out []*topopb.ShardReference
	for _, n := range names {
		kr, err := vindex.ParseKeyRange(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &topopb.ShardReference{Name: n, KeyRange: &topopb.KeyRange{Start: kr.Start, End: kr.End}})
	}
	return out
}

func names(rs []*topopb.ShardReference) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return strings.Join(out, ",")
}

func TestReplaceShardsKeepsTheOthers(t *testing.T) {
	cases := []struct {
		current, from, to []string
		want              string
	}{
		// A split of one shard of two: the other keeps serving.
		{[]string{"-80", "80-"}, []string{"80-"}, []string{"80-c0", "c0-"}, "-80,80-c0,c0-"},
		// A full split.
		{[]string{"-80", "80-"}, []string{"-80", "80-"}, []string{"-40", "40-80", "80-c0", "c0-"}, "-40,40-80,80-c0,c0-"},
		// Back again (reverse).
		{[]string{"-80", "80-c0", "c0-"}, []string{"80-c0", "c0-"}, []string{"80-"}, "-80,80-"},
		// Twice the same switch (reads already switched): no duplicate.
		{[]string{"-80", "80-c0", "c0-"}, []string{"80-"}, []string{"80-c0", "c0-"}, "-80,80-c0,c0-"},
		// A merge.
		{[]string{"-40", "40-80", "80-"}, []string{"-40", "40-80"}, []string{"-80"}, "-80,80-"},
	}
	for _, c := range cases {
		got := names(replaceShards(refs(t, c.current...), c.from, refs(t, c.to...)))
		if got != c.want {
			t.Errorf("replace %v in %v by %v: %s, want %s", c.from, c.current, c.to, got, c.want)
		}
	}
}

func TestCoverageAndStreamPairs(t *testing.T) {
	if _, err := coverage([]string{"-40", "80-"}); err == nil {
		t.Error("a gap between -40 and 80- was accepted")
	}
	if _, err := coverage([]string{"-80", "40-"}); err == nil {
		t.Error("overlapping shards were accepted")
	}
	got, err := coverage([]string{"80-c0", "c0-"})
	if err != nil || got.String() != "80-" {
		t.Errorf("coverage of 80-c0,c0- = %v, %v", got, err)
	}
	wf := &topopb.Workflow{Sources: []string{"-80", "80-"}, Targets: []string{"-40", "40-c0", "c0-"}}
	var pairs []string
	for _, p := range streamPairs(wf) {
		pairs = append(pairs, p[0]+"<"+p[1])
	}
	if want := "-40<-80,40-c0<-80,40-c0<80-,c0-<80-"; strings.Join(pairs, ",") != want {
		t.Errorf("stream pairs %v, want %s", pairs, want)
	}
	wf.Reversed = true
	pairs = pairs[:0]
	for _, p := range streamPairs(wf) {
		pairs = append(pairs, p[0]+"<"+p[1])
	}
	if want := "-80<-40,-80<40-c0,80-<40-c0,80-<c0-"; strings.Join(pairs, ",") != want {
		t.Errorf("reversed stream pairs %v, want %s", pairs, want)
	}
}
