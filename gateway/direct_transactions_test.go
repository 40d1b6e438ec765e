package gateway

import (
	"slices"
	"testing"
	"time"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/proto/querypb"
)

func TestDirectTxStatements(t *testing.T) {
	parser := sqlparser.NewTestParser()
	for sql, want := range map[string]bool{
		"SELECT balance FROM acct WHERE id = 1":                                               true,
		"SELECT balance FROM acct WHERE id = 1 FOR UPDATE":                                    true, // in a transaction on a writable primary
		"INSERT INTO acct (id, balance) VALUES (1, 1)":                                        true,
		"REPLACE INTO acct (id, balance) VALUES (1, 1)":                                       true,
		"UPDATE acct SET balance = balance + 1 WHERE id = 1":                                  true,
		"DELETE FROM acct WHERE id = 1":                                                       true,
		"INSERT INTO acct (id, balance) SELECT 1, COUNT(*) FROM information_schema.tables":    false,
		"UPDATE acct SET balance = @x WHERE id = 1":                                           false,
		"INSERT INTO acct (id, balance) VALUES (1, CONNECTION_ID() + LENGTH(CURRENT_USER()))": false,
		"CALL p()":                false,
		"CREATE TABLE t (id INT)": false,
		"SAVEPOINT a":             false, // begins through the tablet; later ones follow the part
		"LOCK TABLES acct WRITE":  false,
	} {
		stmt, err := parser.Parse(sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if got := directTxStatement(sqlparser.Preview(sql), stmt); got != want {
			t.Errorf("directTxStatement(%s) = %v, want %v", sql, got, want)
		}
	}
}

func TestPlainTxStatementsKeepTheConnectionPoolable(t *testing.T) {
	for sql, want := range map[string]bool{
		"select 1 from acct":             true,
		"insert into acct values (1, 1)": true,
		"savepoint a":                    true,
		"rollback to savepoint a":        true,
		"release savepoint a":            true,
		"SET STATEMENT sql_mode = '' FOR update acct set balance = 1": true,
		"set @x = 1":                        false,
		"call p()":                          false,
		"lock tables acct write":            false,
		"create temporary table t (id int)": false,
	} {
		if got := plainTxStatement(sql); got != want {
			t.Errorf("plainTxStatement(%q) = %v, want %v", sql, got, want)
		}
	}
}

// TestDirectWritesOnlyWithinTheTabletsWord: a part writes only until the
// validity the tablet's latest health message gave, less the margin, and
// not at all when the tablet admits no write.
func TestDirectWritesOnlyWithinTheTabletsWord(t *testing.T) {
	dp := &directPool{}
	now := time.Now()
	dp.noteWritesValid(&querypb.DirectReadOffer{WritesValidMs: 3000}, now)
	if !dp.writable(now.Add(2400 * time.Millisecond)) {
		t.Error("not writable 2.4 s into a 3 s validity")
	}
	if dp.writable(now.Add(2600 * time.Millisecond)) {
		t.Error("writable 2.6 s into a 3 s validity: the 500 ms margin is gone")
	}
	dp.noteWritesValid(&querypb.DirectReadOffer{WritesValidMs: 0}, now)
	if dp.writable(now) {
		t.Error("writable although the tablet admits no write")
	}
}

func TestDirectTxConnectionsEndIdleTransactionsAsTheTablet(t *testing.T) {
	got := directTxSetup(&querypb.DirectReadOffer{TransactionTimeoutMs: 2500})
	want := []string{"SET autocommit = 0", "SET SESSION idle_transaction_timeout = 3"}
	if !slices.Equal(got, want) {
		t.Errorf("directTxSetup = %q, want %q", got, want)
	}
}
