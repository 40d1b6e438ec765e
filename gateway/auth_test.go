package gateway

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/shardgate/shardgate/gateway/mysqlserver"
)

func TestAuthenticate(t *testing.T) {
	pw, empty := "s3cret", ""
	auth, err := NewAuthenticator([]User{
		{User: "app", Password: &pw},
		{User: "root", Password: &empty, From: "loopback"},
		{User: "native", NativeHash: "*B865CAE8F340F6CE1485A06F4492BB49718DF1EC"},                    // s3cret
		{User: "sha2", SHA2Hash: "0ac1e49b32a8f7829e79b4ad9e9f3d35ef0aca0662c4835279619bf49249cd77"}, // s3cret
	})
	if err != nil {
		t.Fatal(err)
	}
	salt := []byte("12345678901234567890")
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	remote := &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 1}
	native := func(p string) []byte { return mysqlserver.ScrambleNativePassword(salt, p) }
	sha2 := func(p string) []byte { return mysqlserver.ScrambleCachingSHA2(salt, p) }
	for _, c := range []struct {
		user, plugin string
		response     []byte
		cleartext    bool
		addr         net.Addr
		want         mysqlserver.AuthVerdict
		plugin2      string
	}{
		{"app", mysqlserver.NativePassword, native(pw), false, remote, mysqlserver.AuthAccept, ""},
		{"app", mysqlserver.NativePassword, native("wrong"), false, remote, mysqlserver.AuthReject, ""},
		{"app", mysqlserver.CachingSHA2Password, sha2(pw), false, remote, mysqlserver.AuthAccept, ""},
		{"app", mysqlserver.CachingSHA2Password, sha2("wrong"), false, remote, mysqlserver.AuthReject, ""},
		{"app", mysqlserver.CachingSHA2Password, []byte(pw), true, remote, mysqlserver.AuthAccept, ""},
		{"root", mysqlserver.NativePassword, nil, false, local, mysqlserver.AuthAccept, ""},
		{"root", mysqlserver.NativePassword, nil, false, remote, mysqlserver.AuthReject, ""},
		{"root", mysqlserver.NativePassword, native("x"), false, local, mysqlserver.AuthReject, ""},
		{"native", mysqlserver.NativePassword, native(pw), false, remote, mysqlserver.AuthAccept, ""},
		{"native", mysqlserver.CachingSHA2Password, sha2(pw), false, remote, mysqlserver.AuthSwitch, mysqlserver.NativePassword},
		{"sha2", mysqlserver.NativePassword, native(pw), false, remote, mysqlserver.AuthSwitch, mysqlserver.CachingSHA2Password},
		{"sha2", mysqlserver.CachingSHA2Password, sha2(pw), false, remote, mysqlserver.AuthAccept, ""},
		{"nobody", mysqlserver.NativePassword, native(pw), false, local, mysqlserver.AuthReject, ""},
	} {
		res := auth.Authenticate(context.Background(), &mysqlserver.AuthRequest{
			User: c.user, RemoteAddr: c.addr, Plugin: c.plugin, Scramble: salt, Response: c.response, Cleartext: c.cleartext,
		})
		if res.Verdict != c.want || res.Plugin != c.plugin2 {
			t.Errorf("%s with %s from %v: %+v, want verdict %d %s", c.user, c.plugin, c.addr, res, c.want, c.plugin2)
		}
		if res.Verdict == mysqlserver.AuthReject && !strings.Contains(res.Err.Error(), "Access denied for user '"+c.user+"'") {
			t.Errorf("%s: %v, want MySQL's access denied", c.user, res.Err)
		}
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
	res := auth.Authenticate(context.Background(), &mysqlserver.AuthRequest{
		User: "app", RemoteAddr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 9)}, Plugin: mysqlserver.NativePassword,
		Scramble: []byte("12345678901234567890"), Response: []byte("wrongwrongwrongwrong"),
	})
	if res.Err == nil || res.Err.Error() != "Access denied for user 'app'@'10.0.0.9' (using password: YES) (errno 1045) (sqlstate 28000)" {
		t.Fatalf("got %v", res.Err)
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
		err := auth.CheckPassword(context.Background(), c.user, c.password, c.addr)
		if (err == nil) != c.ok {
			t.Errorf("%s/%q from %v: %v, want accepted=%v", c.user, c.password, c.addr, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "Access denied for user '"+c.user+"'") {
			t.Errorf("%s: %v, want MySQL's access denied", c.user, err)
		}
	}
}
