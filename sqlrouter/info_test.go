package sqlrouter

import (
	"testing"

	"vitess.io/vitess/go/sqltypes"
)

func TestCombineInfo(t *testing.T) {
	for _, tc := range []struct {
		infos []string
		want  string
	}{
		{[]string{"Records: 2  Duplicates: 0  Warnings: 0", "Records: 1  Duplicates: 1  Warnings: 1"}, "Records: 3  Duplicates: 1  Warnings: 1"},
		{[]string{"Rows matched: 1  Changed: 1  Warnings: 0", "", "Rows matched: 2  Changed: 0  Warnings: 0"}, "Rows matched: 3  Changed: 1  Warnings: 0"},
		{[]string{"Rows matched: 1  Changed: 1  Warnings: 0", "Records: 1  Duplicates: 0  Warnings: 0"}, ""},
		{[]string{"odd text", "Records: 1  Duplicates: 0  Warnings: 0"}, ""},
		{[]string{"", ""}, ""},
	} {
		var results []*sqltypes.Result
		for _, info := range tc.infos {
			results = append(results, &sqltypes.Result{Info: info})
		}
		if got := combineInfo(results); got != tc.want {
			t.Errorf("combineInfo(%q) = %q, want %q", tc.infos, got, tc.want)
		}
	}
}
