package queryservice

import (
	"strings"
	"testing"
)

func TestNativePasswordHashIsMariaDBs(t *testing.T) {
	// SELECT PASSWORD('password') on MariaDB 10.11.
	if got, want := nativePasswordHash("password"), "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"; got != want {
		t.Errorf("nativePasswordHash(password) = %s, want %s", got, want)
	}
}

func TestDirectReadGrantsNameOneDatabaseAndNoPassword(t *testing.T) {
	stmts := directReadGrants(DirectReads{User: "reader", Password: "s3cret'x", MaxConnections: 150}, "my_ks")
	all := strings.Join(stmts, "\n")
	if strings.Contains(all, "s3cret") {
		t.Errorf("the grants carry the password in clear:\n%s", all)
	}
	if !strings.Contains(all, "GRANT SELECT ON `my\\_ks`.* TO 'reader'@'%'") {
		t.Errorf("the grant does not name database my_ks alone (_ escaped):\n%s", all)
	}
	if !strings.Contains(all, "WITH MAX_USER_CONNECTIONS 150") {
		t.Errorf("the user's connections are not capped:\n%s", all)
	}
	if stmts[0] != "SET SESSION sql_log_bin = 0" {
		t.Errorf("the grants start with %q: a replica's own user would be an errant transaction if logged", stmts[0])
	}
}

func TestDirectTransactionGrantsAddWritesAndTakeThemBack(t *testing.T) {
	d := DirectReads{User: "reader", Password: "x", MaxConnections: 150}
	reads := strings.Join(directReadGrants(d, "ks"), "\n")
	d.Transactions = true
	writes := strings.Join(directReadGrants(d, "ks"), "\n")
	if !strings.Contains(writes, "GRANT SELECT, INSERT, UPDATE, DELETE ON `ks`.* TO 'reader'@'%'") {
		t.Errorf("with transactions the user may not write:\n%s", writes)
	}
	if strings.Contains(reads, "GRANT SELECT, INSERT") {
		t.Errorf("without transactions the user may write:\n%s", reads)
	}
	// A tablet that stops offering transactions takes the writes back;
	// one that offers them never revokes anything (open transactions
	// would lose a privilege until the grant).
	if !strings.Contains(reads, "REVOKE INSERT, UPDATE, DELETE ON `ks`.* FROM 'reader'@'%'") {
		t.Errorf("without transactions the writes are not taken back:\n%s", reads)
	}
	if strings.Contains(writes, "REVOKE") {
		t.Errorf("with transactions a privilege is revoked:\n%s", writes)
	}
}
