package gateway

import (
	"net"
	"testing"

	"vitess.io/vitess/go/mysql"
)

func TestNativePasswordAndLoopbackOnly(t *testing.T) {
	pw, empty := "s3cret", ""
	auth, err := NewAuthenticator([]User{{User: "app", Password: &pw}, {User: "root", Password: &empty, From: "loopback"}})
	if err != nil {
		t.Fatal(err)
	}
	salt := []byte("12345678901234567890")
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	remote := &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 1}

	if _, err := auth.UserEntryWithHash(nil, salt, "app", mysql.ScrambleMysqlNativePassword(salt, []byte(pw)), remote); err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	if _, err := auth.UserEntryWithHash(nil, salt, "app", mysql.ScrambleMysqlNativePassword(salt, []byte("wrong")), remote); err == nil {
		t.Fatal("wrong password accepted")
	}
	if _, err := auth.UserEntryWithHash(nil, salt, "root", nil, local); err != nil {
		t.Fatalf("root without password from loopback refused: %v", err)
	}
	if _, err := auth.UserEntryWithHash(nil, salt, "root", nil, remote); err == nil {
		t.Fatal("root accepted from a non-loopback address")
	}
	if _, state, _ := auth.UserEntryWithCacheHash(nil, salt, "app", mysql.ScrambleCachingSha2Password(salt, []byte(pw)), remote); state != mysql.AuthAccepted {
		t.Fatalf("caching_sha2 fast path: state %v, want accepted", state)
	}
}

func TestUsersFileErrorsNameTheUser(t *testing.T) {
	if _, err := NewAuthenticator([]User{{User: "nopw"}}); err == nil {
		t.Fatal("a user without any password must be refused")
	}
	if _, err := NewAuthenticator([]User{{User: "x", NativeHash: "*zz"}}); err == nil {
		t.Fatal("a malformed hash must be refused")
	}
}

func TestAccessDeniedReadsLikeMySQL(t *testing.T) {
	pw := "x"
	auth, _ := NewAuthenticator([]User{{User: "app", Password: &pw}})
	_, err := auth.UserEntryWithHash(nil, []byte("12345678901234567890"), "app", []byte("wrongwrongwrongwrong"), &net.TCPAddr{IP: net.IPv4(10, 0, 0, 9)})
	if err == nil || err.Error() != "Access denied for user 'app'@'10.0.0.9' (using password: YES) (errno 1045) (sqlstate 28000)" {
		t.Fatalf("got %v", err)
	}
}
