package gateway

import (
	"net"
	"strings"
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

// The gRPC API checks plain passwords against the same users, whichever
// form the users file keeps them in.
func TestCheckPassword(t *testing.T) {
	pw, empty := "s3cret", ""
	auth, err := NewAuthenticator([]User{
		{User: "plain", Password: &pw},
		{User: "native", NativeHash: "*B865CAE8F340F6CE1485A06F4492BB49718DF1EC"},                    // s3cret
		{User: "sha2", SHA2Hash: "0ac1e49b32a8f7829e79b4ad9e9f3d35ef0aca0662c4835279619bf49249cd77"}, // s3cret
		{User: "root", Password: &empty, From: "loopback"},
	})
	if err != nil {
		t.Fatal(err)
	}
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	remote := &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 1}
	for _, c := range []struct {
		user, password string
		addr           net.Addr
		ok             bool
	}{
		{"plain", "s3cret", remote, true},
		{"plain", "wrong", remote, false},
		{"native", "s3cret", remote, true},
		{"native", "s3cre", remote, false},
		{"sha2", "s3cret", remote, true},
		{"sha2", "S3cret", remote, false},
		{"root", "", local, true},
		{"root", "", remote, false},
		{"root", "x", local, false},
		{"nobody", "", local, false},
	} {
		err := auth.CheckPassword(c.user, c.password, c.addr)
		if (err == nil) != c.ok {
			t.Errorf("%s/%q from %v: %v, want accepted=%v", c.user, c.password, c.addr, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "Access denied for user '"+c.user+"'") {
			t.Errorf("%s: %v, want MySQL's access denied", c.user, err)
		}
	}
}
