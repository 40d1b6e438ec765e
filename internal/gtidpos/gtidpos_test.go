package gtidpos

import "testing"

func TestParseAndCompare(t *testing.T) {
	p := MustParse("1-7-3,0-1-42")
	if got := p.String(); got != "0-1-42,1-7-3" {
		t.Fatalf("String() = %q", got)
	}
	for _, tc := range []struct {
		a, b    string
		atLeast bool
	}{
		{"0-1-42", "0-1-41", true},
		{"0-1-42", "0-2-42", true}, // sequence numbers count, not servers
		{"0-1-42", "0-1-43", false},
		{"0-1-42", "0-1-42,1-1-1", false}, // a domain it has not seen
		{"0-1-42,1-1-1", "0-1-42", true},
		{"", "", true},
		{"0-1-1", "", true},
		{"", "0-1-1", false},
	} {
		if got := MustParse(tc.a).AtLeast(MustParse(tc.b)); got != tc.atLeast {
			t.Errorf("%q AtLeast %q = %v, want %v", tc.a, tc.b, got, tc.atLeast)
		}
	}
	next := p.After(GTID{Domain: 0, Server: 9, Seq: 43})
	if next.String() != "0-9-43,1-7-3" || p.String() != "0-1-42,1-7-3" {
		t.Fatalf("After: %q (and p became %q)", next, p)
	}
	if p.After(GTID{Domain: 0, Server: 1, Seq: 5}).String() != p.String() {
		t.Fatal("After an older transaction moved the position back")
	}
	for _, bad := range []string{"0-1", "a-b-c", "0-1-2,x"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestSameTellsHistoriesApart(t *testing.T) {
	a := MustParse("0-100-57,1-100-3")
	for _, tc := range []struct {
		other string
		same  bool
	}{
		{"0-100-57,1-100-3", true},
		{"1-100-3,0-100-57", true},
		{"0-101-57,1-100-3", false}, // same sequence numbers, another server: another history
		{"0-100-57", false},
		{"0-100-57,1-100-3,2-1-1", false},
	} {
		if got := a.Same(MustParse(tc.other)); got != tc.same {
			t.Errorf("%s.Same(%s) = %v, want %v", a, tc.other, got, tc.same)
		}
		if tc.other == "0-101-57,1-100-3" && !a.Equal(MustParse(tc.other)) {
			t.Error("Equal compares sequence numbers only")
		}
	}
}

func TestMergeTakesTheLaterPerDomain(t *testing.T) {
	got := MustParse("0-100-10,1-100-5").Merge(MustParse("0-101-12,2-100-1"))
	if want := MustParse("0-101-12,1-100-5,2-100-1"); !got.Same(want) {
		t.Fatalf("Merge = %s, want %s", got, want)
	}
	if got := MustParse("0-100-10").Merge(nil); !got.Same(MustParse("0-100-10")) {
		t.Fatalf("Merge with nothing = %s", got)
	}
}
