package loaddata

import (
	"errors"
	"strings"
	"testing"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/sqlparser"
)

func TestParse(t *testing.T) {
	cases := []struct {
		sql  string
		want string // Statement.String()
	}{
		{"load data local infile '/tmp/x.csv' into table t",
			`LOAD DATA LOCAL INFILE "/tmp/x.csv" INTO TABLE t FIELDS TERMINATED BY "\t" ENCLOSED BY "" ESCAPED BY "\\" LINES STARTING BY "" TERMINATED BY "\n"`},
		{"LOAD DATA LOW_PRIORITY LOCAL INFILE 'a' REPLACE INTO TABLE ks.`select` CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '\\\\' LINES STARTING BY 'x' TERMINATED BY '\\r\\n' IGNORE 1 LINES (a, @b, `c d`) SET e = @b + 1, f = DEFAULT",
			`LOAD DATA LOCAL INFILE "a" REPLACE INTO TABLE ks.select CHARACTER SET utf8mb4 FIELDS TERMINATED BY "," OPTIONALLY ENCLOSED BY "\"" ESCAPED BY "\\" LINES STARTING BY "x" TERMINATED BY "\r\n" IGNORE 1 LINES (a, @b, c d) SET e = @b + 1, f = default`},
		// Clauses in any order inside FIELDS and LINES, the last of each
		// holds; COLUMNS for FIELDS, ROWS for LINES, CHARSET and CHAR SET.
		{"load data concurrent local infile 'a' ignore into table t charset binary columns escaped by '' terminated by ';' terminated by '|' lines terminated by 0x0a0d starting by X'3e' ignore 7 rows",
			`LOAD DATA LOCAL INFILE "a" IGNORE INTO TABLE t CHARACTER SET binary FIELDS TERMINATED BY "|" ENCLOSED BY "" ESCAPED BY "" LINES STARTING BY ">" TERMINATED BY "\n\r" IGNORE 7 LINES`},
		{"load data local infile 'a' into table t char set 'UTF8' fields enclosed by b'100010' terminated by 0x9",
			`LOAD DATA LOCAL INFILE "a" INTO TABLE t CHARACTER SET utf8 FIELDS TERMINATED BY "\t" ENCLOSED BY "\"" ESCAPED BY "\\" LINES STARTING BY "" TERMINATED BY "\n"`},
		// Keywords as names, comments, a trailing semicolon, an empty
		// column list (MariaDB reads it as none).
		{"/* c */ load data local infile 'a' into table status -- x\n (data, `status`, @`v w`) ;",
			`LOAD DATA LOCAL INFILE "a" INTO TABLE status FIELDS TERMINATED BY "\t" ENCLOSED BY "" ESCAPED BY "\\" LINES STARTING BY "" TERMINATED BY "\n" (data, status, @v w)`},
		{"load data local infile 'a' into table t ()",
			`LOAD DATA LOCAL INFILE "a" INTO TABLE t FIELDS TERMINATED BY "\t" ENCLOSED BY "" ESCAPED BY "\\" LINES STARTING BY "" TERMINATED BY "\n"`},
		{"load data infile 'a' into table t partition (p0, p1)",
			`LOAD DATA INFILE "a" INTO TABLE t PARTITION (p0, p1) FIELDS TERMINATED BY "\t" ENCLOSED BY "" ESCAPED BY "\\" LINES STARTING BY "" TERMINATED BY "\n"`},
		// Strings with escapes and quotes read as MariaDB reads them.
		{`load data local infile 'it''s \'here\'' into table t fields terminated by "\"" enclosed by '\''`,
			`LOAD DATA LOCAL INFILE "it's 'here'" INTO TABLE t FIELDS TERMINATED BY "\"" ENCLOSED BY "'" ESCAPED BY "\\" LINES STARTING BY "" TERMINATED BY "\n"`},
	}
	parser := sqlparser.NewTestParser()
	for _, c := range cases {
		stmt, err := Parse(parser, c.sql)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		if got := stmt.String(); got != c.want {
			t.Errorf("%s:\n got  %s\n want %s", c.sql, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		sql  string
		code sqlerror.ErrorCode
		msg  string
	}{
		{"load data local infile a into table t", sqlerror.ERParseError, "near 'a'"},
		{"load data local infile 'a' into t", sqlerror.ERParseError, "near 't'"},
		{"load data local infile 'a' into table t fields", sqlerror.ERParseError, "near 'end of statement'"},
		{"load data local infile 'a' into table t lines enclosed by 'x'", sqlerror.ERParseError, "near 'enclosed'"},
		{"load data local infile 'a' into table t ignore x lines", sqlerror.ERParseError, "near 'x'"},
		{"load data local infile 'a' into table t ignore 1", sqlerror.ERParseError, "end of statement"},
		{"load data local infile 'a' into table t (a b)", sqlerror.ERParseError, "near 'b'"},
		{"load data local infile 'a' into table t (a,)", sqlerror.ERParseError, "near ')'"},
		{"load data local infile 'a' into table t fields terminated by 1", sqlerror.ERParseError, "near '1'"},
		{"load data local infile 'a' into table t set", sqlerror.ERParseError, "SET"},
		{"load data local infile 'a' into table t set a = 1 where b = 2", sqlerror.ERParseError, "only assignments"},
		{"load data local infile 'a' into table t fields terminated by 'x' garbage", sqlerror.ERParseError, "near 'garbage'"},
		{"load data local infile 'a' into table t (t.a)", sqlerror.ERNotSupportedYet, "qualified column name"},
		{"load data local infile 'a' into table t set t.a = 1", sqlerror.ERNotSupportedYet, "qualified column name"},
		{"load data local infile 'unterminated into table t", sqlerror.ERParseError, ""},
	}
	parser := sqlparser.NewTestParser()
	for _, c := range cases {
		_, err := Parse(parser, c.sql)
		var se *sqlerror.SQLError
		if !errors.As(err, &se) || se.Num != c.code || !strings.Contains(se.Message, c.msg) {
			t.Errorf("%s: %v, want error %d containing %q", c.sql, err, c.code, c.msg)
		}
	}
}

func TestCheck(t *testing.T) {
	cases := []struct {
		sql  string
		code sqlerror.ErrorCode
		msg  string
	}{
		{"load data infile 'a' into table t", sqlerror.ERNotSupportedYet, "without LOCAL: it reads a file on the server's host"},
		{"load data local infile 'a' into table t partition (p0)", sqlerror.ERNotSupportedYet, "PARTITION (p0)"},
		{"load data local infile 'a' into table t character set latin1", sqlerror.ERNotSupportedYet, "CHARACTER SET latin1"},
		{"load data local infile 'a' into table t fields enclosed by 'ab'", sqlerror.ERWrongFieldTerminators, "Field separator argument"},
		{"load data local infile 'a' into table t fields escaped by '\\\\\\\\'", sqlerror.ERWrongFieldTerminators, "Field separator argument"},
		{"load data local infile 'a' into table t fields terminated by '€'", sqlerror.ERNotSupportedYet, "non-ASCII separator"},
		{"load data local infile 'a' into table t fields terminated by ''", sqlerror.ERNotSupportedYet, "fixed-width rows"},
		{"load data local infile 'a' into table t (a, b, A)", sqlerror.ERFieldSpecifiedTwice, "Column 'A' specified twice"},
	}
	parser := sqlparser.NewTestParser()
	for _, c := range cases {
		stmt, err := Parse(parser, c.sql)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		err = stmt.Check()
		var se *sqlerror.SQLError
		if !errors.As(err, &se) || se.Num != c.code || !strings.Contains(se.Message, c.msg) {
			t.Errorf("%s: %v, want error %d containing %q", c.sql, err, c.code, c.msg)
		}
	}
	ok := []string{
		"load data local infile 'a' into table t character set default",
		"load data local infile 'a' into table t character set utf8mb3 fields terminated by '' enclosed by '\"'",
		"load data local infile 'a' into table t (@a, @a, b) set c = @a",
	}
	for _, sql := range ok {
		stmt, err := Parse(parser, sql)
		if err == nil {
			err = stmt.Check()
		}
		if err != nil {
			t.Errorf("%s: %v", sql, err)
		}
	}
}

// FuzzParseLoadData: no statement makes Parse (or Check, or String on
// what it accepts) panic.
func FuzzParseLoadData(f *testing.F) {
	for _, seed := range []string{
		"load data local infile 'a' into table t",
		"LOAD DATA LOW_PRIORITY LOCAL INFILE 'a' REPLACE INTO TABLE ks.t CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '\\\\' LINES STARTING BY 'x' TERMINATED BY '\\r\\n' IGNORE 1 LINES (a, @b) SET e = @b + 1",
		"load data local infile 'a' into table t fields terminated by 0x0 lines terminated by b'' ignore 18446744073709551615 rows ()",
		"load data infile 'a' into table t partition (p) charset 'x' set a = (select 1)",
		"load data local infile 'a' into table `t``x` (@`a`, `b`) /*! set c = 1 */",
	} {
		f.Add(seed)
	}
	parser := sqlparser.NewTestParser()
	f.Fuzz(func(t *testing.T, sql string) {
		stmt, err := Parse(parser, sql)
		if err != nil {
			var se *sqlerror.SQLError
			if !errors.As(err, &se) {
				t.Fatalf("%q: error %v is not a MySQL error", sql, err)
			}
			return
		}
		_ = stmt.Check()
		_ = stmt.String()
	})
}
