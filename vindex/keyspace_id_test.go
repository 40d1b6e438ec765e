package vindex

import "testing"

func TestKeyspaceIDString(t *testing.T) {
	for _, tc := range []struct {
		id   KeyspaceID
		want string
	}{
		{nil, ""},
		{KeyspaceID{}, ""},
		{KeyspaceID{0x00}, "00"},
		{KeyspaceID{0xAB, 0xCD, 0x01}, "abcd01"},
	} {
		if got := tc.id.String(); got != tc.want {
			t.Errorf("%#v.String() = %q; want %q", tc.id, got, tc.want)
		}
	}
}

func TestCompareKeysIgnoresTrailingZeros(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "00", 0},
		{"40", "4000", 0},
		{"40", "4001", -1},
		{"4001", "40", 1},
		{"3fff", "40", -1},
		{"ff", "", 1},
	} {
		if got := compareKeys(mustHex(t, tc.a), mustHex(t, tc.b)); got != tc.want {
			t.Errorf("compareKeys(%s, %s) = %d; want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
