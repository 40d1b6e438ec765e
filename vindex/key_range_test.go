package vindex

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParseKeyRange(t *testing.T) {
	for _, tc := range []struct {
		name       string
		start, end string // hex
		canonical  string
	}{
		{"0", "", "", "-"},
		{"-", "", "", "-"},
		{"-80", "", "80", "-80"},
		{"80-", "80", "", "80-"},
		{"40-80", "40", "80", "40-80"},
		{"4A-8b", "4a", "8b", "4a-8b"},
		{"C0-", "c0", "", "c0-"},
		{"0080-0100", "0080", "0100", "0080-0100"},
		{"00-80", "00", "80", "00-80"},
		{"7fff-80", "7fff", "80", "7fff-80"},
		{"-0001", "", "0001", "-0001"},
	} {
		r, err := ParseKeyRange(tc.name)
		if err != nil {
			t.Errorf("ParseKeyRange(%q): %v", tc.name, err)
			continue
		}
		if KeyspaceID(r.Start).String() != tc.start || KeyspaceID(r.End).String() != tc.end {
			t.Errorf("ParseKeyRange(%q) = [%x, %x); want [%s, %s)", tc.name, r.Start, r.End, tc.start, tc.end)
		}
		if got := r.String(); got != tc.canonical {
			t.Errorf("ParseKeyRange(%q).String() = %q; want %q", tc.name, got, tc.canonical)
		}
	}
}

func TestParseKeyRangeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string // the error must contain this
	}{
		{"", `invalid shard name "": it is empty`},
		{"8", `invalid shard name "8": want "start-end"`},
		{"80", `invalid shard name "80": want "start-end"`},
		{"00", `invalid shard name "00": want "start-end"`},
		{"80-40", `invalid shard name "80-40": start 80 is not below end 40`},
		{"40-40", `invalid shard name "40-40": start 40 is not below end 40`},
		{"40-4000", `start 40 is not below end 4000`},
		{"zz-", `invalid shard name "zz-": start "zz": not hex`},
		{"-zz", `invalid shard name "-zz": end "zz": not hex`},
		{"-80-", `invalid shard name "-80-": it has more than one "-"`},
		{"-40-80", `more than one "-"`},
		{"8-", `invalid shard name "8-": start "8": odd number of hex digits`},
		{"-800", `end "800": odd number of hex digits`},
		{"-00", `invalid shard name "-00": end 00 is the start of the key space`},
		{" -80", `invalid shard name " -80"`},
		{"-80 ", `invalid shard name "-80 "`},
		{"+80-", `invalid shard name "+80-"`},
	} {
		_, err := ParseKeyRange(tc.name)
		if err == nil {
			t.Errorf("ParseKeyRange(%q) succeeded; want an error", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseKeyRange(%q) error %q; want it to contain %q", tc.name, err, tc.want)
		}
	}
}

func TestMustParseKeyRangePanics(t *testing.T) {
	if !panics(func() { MustParseKeyRange("80-40") }) {
		t.Error("MustParseKeyRange of an invalid name did not panic")
	}
}

func TestKeyRangeContains(t *testing.T) {
	for _, tc := range []struct {
		shard string
		id    string
		want  bool
	}{
		{"-", "", true},
		{"-", "ffffffff", true},
		{"0", "00", true},
		{"-80", "", true},
		{"-80", "00", true},
		{"-80", "7fffffffffffffff", true},
		{"-80", "80", false},
		{"-80", "8000000000000000", false},
		{"-80", "ff", false},
		{"80-", "80", true},
		{"80-", "8000", true},
		{"80-", "7fff", false},
		{"80-", "ffffffffffffffff", true},
		{"40-80", "40", true},
		{"40-80", "4000000000000000", true},
		{"40-80", "3fffffffffffffff", false},
		{"40-80", "7fffffffffffffff", true},
		{"40-80", "80", false},
		// Trailing zeros do not move an id: 40 and 4000 are one position.
		{"4000-80", "40", true},
		{"40-8000", "80", false},
		{"-40", "", true},
		{"00-40", "", true},
	} {
		r := MustParseKeyRange(tc.shard)
		if got := r.Contains(mustHex(t, tc.id)); got != tc.want {
			t.Errorf("%q.Contains(%s) = %v; want %v", tc.shard, tc.id, got, tc.want)
		}
	}
}

func TestKeyRangeIntersects(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"-", "-", true},
		{"-", "40-80", true},
		{"0", "80-", true},
		{"-80", "80-", false},
		{"-80", "40-c0", true},
		{"-40", "40-80", false},
		{"-40", "30-80", true},
		{"40-80", "40-80", true},
		{"40-80", "50-60", true},
		{"40-80", "80-c0", false},
		{"40-80", "c0-", false},
		{"80-", "c0-", true},
		{"80-", "-81", true},
		{"-4000", "40-", false},
		{"-4001", "40-", true},
	} {
		a, b := MustParseKeyRange(tc.a), MustParseKeyRange(tc.b)
		if got := a.Intersects(b); got != tc.want {
			t.Errorf("%q.Intersects(%q) = %v; want %v", tc.a, tc.b, got, tc.want)
		}
		if got := b.Intersects(a); got != tc.want {
			t.Errorf("%q.Intersects(%q) = %v; want %v (symmetry)", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestKeyRangeContainsRangeAndEqual(t *testing.T) {
	for _, tc := range []struct {
		a, b     string
		contains bool
		equal    bool
	}{
		{"-", "-", true, true},
		{"0", "-", true, true},
		{"-", "40-80", true, false},
		{"40-80", "-", false, false},
		{"-80", "-40", true, false},
		{"-80", "40-80", true, false},
		{"-80", "40-c0", false, false},
		{"80-", "c0-", true, false},
		{"c0-", "80-", false, false},
		{"80-", "80-c0", true, false},
		{"80-c0", "80-", false, false},
		{"40-80", "4000-8000", true, true},
	} {
		a, b := MustParseKeyRange(tc.a), MustParseKeyRange(tc.b)
		if got := a.ContainsRange(b); got != tc.contains {
			t.Errorf("%q.ContainsRange(%q) = %v; want %v", tc.a, tc.b, got, tc.contains)
		}
		if got := a.Equal(b); got != tc.equal {
			t.Errorf("%q.Equal(%q) = %v; want %v", tc.a, tc.b, got, tc.equal)
		}
	}
}

func TestKeyRangeFromPrefix(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		want   string
	}{
		{"", "-"},
		{"00", "00-01"},
		{"12", "12-13"},
		{"12ff", "12ff-1300"},
		{"12ffff", "12ffff-130000"},
		{"ff", "ff-"},
		{"ffff", "ffff-"},
	} {
		prefix := mustHex(t, tc.prefix)
		got := KeyRangeFromPrefix(prefix)
		if got.String() != tc.want {
			t.Errorf("KeyRangeFromPrefix(%s) = %s; want %s", tc.prefix, got, tc.want)
		}
		if len(prefix) > 0 && !got.Contains(prefix) {
			t.Errorf("KeyRangeFromPrefix(%s) does not contain the prefix", tc.prefix)
		}
	}
	// The result must not alias the prefix.
	prefix := []byte{0x12}
	r := KeyRangeFromPrefix(prefix)
	prefix[0] = 0x99
	if r.String() != "12-13" {
		t.Errorf("changing the prefix changed the range to %s", r)
	}
}

func TestCheckTiling(t *testing.T) {
	for _, shards := range [][]string{
		{"0"},
		{"-"},
		{"-80", "80-"},
		{"80-", "-80"},
		{"-40", "40-80", "80-c0", "c0-"},
		{"c0-", "-40", "80-c0", "40-80"},
		{"-20", "20-40", "40-60", "60-80", "80-a0", "a0-c0", "c0-e0", "e0-"},
		{"-40", "40-80", "80-"},
		{"-4000", "40-80", "80-"},
		{"-8000", "80-"},
		{"-80", "80-8080", "8080-"},
	} {
		if err := CheckTiling(shards); err != nil {
			t.Errorf("CheckTiling(%q): %v", shards, err)
		}
	}
	for _, n := range []int{1, 2, 4, 8, 16, 32, 64, 128, 256} {
		shards, err := EvenShards(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckTiling(shards); err != nil {
			t.Errorf("CheckTiling(EvenShards(%d)): %v", n, err)
		}
		reversed := slices.Clone(shards)
		slices.Reverse(reversed)
		if err := CheckTiling(reversed); err != nil {
			t.Errorf("CheckTiling(reversed EvenShards(%d)): %v", n, err)
		}
	}
}

func TestCheckTilingErrors(t *testing.T) {
	for _, tc := range []struct {
		shards []string
		want   string
	}{
		{nil, "no shards"},
		{[]string{"-40", "30-80", "80-"}, `shards "-40" and "30-80" overlap`},
		{[]string{"-40", "80-"}, `gap between "-40" and "80-": 40-80 is not covered`},
		{[]string{"-80", "-80", "80-"}, `shard "-80" is listed twice`},
		{[]string{"0", "-"}, `shards "0" and "-" overlap`},
		{[]string{"0", "-80"}, `shards "-80" and "0" overlap`},
		{[]string{"-80", "80-", "c0-"}, `shards "80-" and "c0-" overlap`},
		{[]string{"-80", "40-60", "80-"}, `shards "-80" and "40-60" overlap`},
		{[]string{"40-80", "80-"}, `gap before "40-80": -40 is not covered`},
		{[]string{"-40", "40-80"}, `gap after "40-80": 80- is not covered`},
		{[]string{"-40", "40-80", "90-"}, `gap between "40-80" and "90-": 80-90 is not covered`},
		{[]string{"-80", "80-", "8"}, `invalid shard name "8"`},
		{[]string{"-40", "4001-"}, `gap between "-40" and "4001-": 40-4001 is not covered`},
	} {
		err := CheckTiling(tc.shards)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckTiling(%q) = %v; want an error containing %q", tc.shards, err, tc.want)
		}
	}
}

func TestEvenShards(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []string
	}{
		{1, []string{"0"}},
		{2, []string{"-80", "80-"}},
		{4, []string{"-40", "40-80", "80-c0", "c0-"}},
		{8, []string{"-20", "20-40", "40-60", "60-80", "80-a0", "a0-c0", "c0-e0", "e0-"}},
	} {
		got, err := EvenShards(tc.n)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("EvenShards(%d) = %q, %v; want %q", tc.n, got, err, tc.want)
		}
	}
	got, err := EvenShards(256)
	if err != nil || len(got) != 256 || got[0] != "-01" || got[1] != "01-02" || got[127] != "7f-80" || got[255] != "ff-" {
		t.Errorf("EvenShards(256) = %q..., %v", got[:min(len(got), 3)], err)
	}
	for _, n := range []int{-1, 0, 3, 6, 100, 512, 1024} {
		if _, err := EvenShards(n); err == nil || !strings.Contains(err.Error(), fmt.Sprint(n)) {
			t.Errorf("EvenShards(%d) error = %v; want one naming the count", n, err)
		}
	}
}

func TestShardFor(t *testing.T) {
	four, _ := EvenShards(4)
	for _, tc := range []struct {
		id     string
		shards []string
		want   string
	}{
		{"", four, "-40"},
		{"00", four, "-40"},
		{"3fffffffffffffff", four, "-40"},
		{"40", four, "40-80"},
		{"166b40b44aba4bd6", four, "-40"},
		{"fcd63e56d3374d88", four, "c0-"},
		{"8ca64de9c1b123a7", four, "80-c0"},
		{"ffffffffffffffff", four, "c0-"},
		{"8ca64de9c1b123a7", []string{"0"}, "0"},
		{"8ca64de9c1b123a7", []string{"80-", "-80"}, "80-"},
	} {
		got, err := ShardFor(mustHex(t, tc.id), tc.shards)
		if err != nil || got != tc.want {
			t.Errorf("ShardFor(%s, %q) = %q, %v; want %q", tc.id, tc.shards, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		id     string
		shards []string
		want   string
	}{
		{"90", []string{"-40", "40-80"}, `keyspace id "90" is in none of the shards`},
		{"50", []string{"-80", "40-"}, `keyspace id "50" is in both shard "-80" and shard "40-"`},
		{"50", []string{"-80", "x"}, `invalid shard name "x"`},
		{"50", nil, "in none of the shards"},
	} {
		_, err := ShardFor(mustHex(t, tc.id), tc.shards)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ShardFor(%s, %q) error = %v; want one containing %q", tc.id, tc.shards, err, tc.want)
		}
	}
}

// FuzzParseKeyRange checks that parsing never panics and that a parsed
// range's canonical name parses back to the same range.
func FuzzParseKeyRange(f *testing.F) {
	for _, s := range []string{"0", "-", "-80", "80-", "40-80", "8", "80-40", "zz-", "-80-", "", "-00", "00-", "Ab-cD", "0080-0100", "\xff-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseKeyRange(s)
		if err != nil {
			if !strings.Contains(err.Error(), "invalid shard name") {
				t.Fatalf("ParseKeyRange(%q) error %q does not say which name is invalid", s, err)
			}
			return
		}
		back, err := ParseKeyRange(r.String())
		if err != nil {
			t.Fatalf("ParseKeyRange(%q).String() = %q, which does not parse: %v", s, r.String(), err)
		}
		if !back.Equal(r) {
			t.Fatalf("ParseKeyRange(%q) = %s but its name parses to %s", s, r, back)
		}
		if !r.Contains(r.Start) {
			t.Fatalf("%s does not contain its own start", r)
		}
		if len(r.End) > 0 && r.Contains(r.End) {
			t.Fatalf("%s contains its own end", r)
		}
		if !r.Intersects(r) || !r.ContainsRange(r) {
			t.Fatalf("%s does not intersect or contain itself", r)
		}
	})
}
