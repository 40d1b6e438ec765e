package gateway

import (
	"testing"

	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
)

func TestDirectReadableStatements(t *testing.T) {
	parser := sqlparser.NewTestParser()
	for sql, want := range map[string]bool{
		"SELECT c FROM sbtest1 WHERE id = 1":                               true,
		"SELECT a.id FROM acct a JOIN item i ON i.id = a.id":               true,
		"SELECT id FROM acct UNION SELECT id FROM item":                    true,
		"SELECT id FROM ks.acct WHERE balance > 3":                         true,
		"SELECT id FROM ks.acct WHERE balance > 3 FOR UPDATE":              false, // 1290 where read_only is on
		"SELECT id FROM acct WHERE id = 1 LOCK IN SHARE MODE":              false,
		"SELECT id FROM acct WHERE id IN (SELECT id FROM item FOR UPDATE)": false, // a lock deeper down
		"SELECT COUNT(*) FROM information_schema.tables":                   false,
		"SELECT id FROM acct WHERE id IN (SELECT 1 FROM mysql.user)":       false,
		"SELECT * FROM performance_schema.threads":                         false,
		"SELECT CURRENT_USER(), id FROM acct":                              false,
		"SELECT user(), id FROM acct":                                      false,
		"SELECT @@hostname, id FROM acct":                                  false,
		"SELECT id FROM acct WHERE id = @x":                                false,
		"INSERT INTO acct (id, balance) VALUES (1, 1)":                     false,
		"UPDATE acct SET balance = 1 WHERE id = 1":                         false,
		"DELETE FROM acct WHERE id = 1":                                    false,
		"SELECT id FROM acct UNION SELECT table_name FROM sys.tables":      false,
	} {
		stmt, err := parser.Parse(sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if got := directReadable(stmt); got != want {
			t.Errorf("directReadable(%s) = %v, want %v", sql, got, want)
		}
	}
}

func TestDeniedToReaderFallsBackOnlyOnPrivileges(t *testing.T) {
	for _, c := range []struct {
		code sqlerror.ErrorCode
		want bool
	}{
		{1142, true}, {1143, true}, {1370, true}, {1044, true}, {1045, true}, {1227, true},
		{1146, false}, {1064, false}, {1317, false}, {2013, false},
	} {
		if got := deniedToReader(sqlerror.NewSQLErrorf(c.code, "42000", "x")); got != c.want {
			t.Errorf("deniedToReader(%d) = %v, want %v", c.code, got, c.want)
		}
	}
}

// TestDirectReadOffersComeAndGo: a tablet's offer gets a pool, the same
// offer keeps it, a changed one replaces it, and a withdrawn one (or a
// tablet that is dropped) closes it.
func TestDirectReadOffersComeAndGo(t *testing.T) {
	d := newDirectReads(DirectReadConfig{Password: "secret"}, zap.NewNop(), nil)
	tc := &tabletConn{record: &topopb.Tablet{Alias: "zone1-100", Keyspace: "ks", Shard: "-80"}}
	offer := &querypb.DirectReadOffer{Address: "127.0.0.1:17100", User: "reader", Database: "ks", QueryTimeoutMs: 30000, MaxRows: 10000}

	d.follow(tc, offer)
	first := tc.direct.Load()
	if first == nil {
		t.Fatal("an offer made no pool")
	}
	if first.limits.MaxRows != 10000 || first.limits.Timeout.Seconds() != 30 {
		t.Errorf("pool limits %+v, want the offer's (10000 rows, 30 s)", first.limits)
	}
	d.follow(tc, &querypb.DirectReadOffer{Address: "127.0.0.1:17100", User: "reader", Database: "ks", QueryTimeoutMs: 30000, MaxRows: 10000})
	if tc.direct.Load() != first {
		t.Error("the same offer again replaced the pool")
	}
	d.follow(tc, &querypb.DirectReadOffer{Address: "127.0.0.1:17100", User: "reader", Database: "ks", QueryTimeoutMs: 30000, MaxRows: 10000, ColumnsVersion: 3})
	if tc.direct.Load() != first {
		t.Error("a new columns version (the tablet ran DDL) replaced the pool; it only makes it read the JSON columns again")
	}
	d.follow(tc, &querypb.DirectReadOffer{Address: "127.0.0.1:17101", User: "reader", Database: "ks", QueryTimeoutMs: 30000, MaxRows: 10000})
	second := tc.direct.Load()
	if second == first || second == nil {
		t.Fatal("a changed offer kept the old pool")
	}
	if _, err := first.pool.TryGet(t.Context()); err == nil {
		t.Error("the replaced pool still hands out connections")
	}
	d.follow(tc, nil)
	if tc.direct.Load() != nil {
		t.Error("a withdrawn offer kept its pool")
	}
	d.follow(tc, offer)
	tc.closeDirect()
	if tc.direct.Load() != nil {
		t.Error("closeDirect left the pool")
	}
}
