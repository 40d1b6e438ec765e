package sqlrouter

import (
	"slices"
	"testing"
)

func TestSelectItemTexts(t *testing.T) {
	cases := []struct {
		sql  string
		want []string
	}{
		{"select MIN(name), 1+1 , count( * ) from t", []string{"MIN(name)", "1+1", "count( * )"}},
		{"SELECT DISTINCT a, f(b, c) AS x FROM t WHERE y = 1", []string{"a", "f(b, c) AS x"}},
		{"select /* c */ 'a,b', (select 1 from u), `x`.`y` from t order by 1", []string{"'a,b'", "(select 1 from u)", "`x`.`y`"}},
		{"select 1", []string{"1"}},
		{"select sql_no_cache a from t limit 1", []string{"a"}},
	}
	for _, c := range cases {
		if got := selectItemTexts(c.sql); !slices.Equal(got, c.want) {
			t.Errorf("%s\n got %q\nwant %q", c.sql, got, c.want)
		}
	}
}
