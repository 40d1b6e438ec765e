package queryservice

import "testing"

func TestWritesData(t *testing.T) {
	cases := map[string]bool{
		"insert into t values (1)":                                    true,
		"  /* c */ REPLACE INTO t VALUES (1)":                         true,
		"update t set a = 1":                                          true,
		"DELETE FROM t":                                               true,
		"SET STATEMENT max_statement_time=1 FOR delete from t":        true,
		"set statement sql_mode='' for select 1":                      false,
		"select * from t":                                             false,
		"create table t (a int)":                                      false,
		"show tables":                                                 false,
		"(select 1) union (select 2)":                                 false,
		"with x as (select 1) select * from x":                        false,
		"SET STATEMENT a=1, b=2 FOR UPDATE t SET a = 'for x' WHERE 1": true,
	}
	for sql, want := range cases {
		if got := writesData(sql); got != want {
			t.Errorf("writesData(%q) = %v, want %v", sql, got, want)
		}
	}
}
