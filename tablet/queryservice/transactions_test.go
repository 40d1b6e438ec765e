package queryservice

import "testing"

func TestNextTransaction(t *testing.T) {
	for _, tc := range []struct {
		level    string
		readOnly bool
		want     string
	}{
		{"", false, ""},
		{"READ COMMITTED", false, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"},
		{"", true, "SET TRANSACTION READ ONLY"},
		{"SERIALIZABLE", true, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY"},
	} {
		if got := nextTransaction(tc.level, tc.readOnly); got != tc.want {
			t.Errorf("nextTransaction(%q, %v) = %q, want %q", tc.level, tc.readOnly, got, tc.want)
		}
	}
}
