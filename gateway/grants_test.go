package gateway

import (
	"context"
	"net"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

func grantsExecutor(t *testing.T) (*Executor, *Authenticator) {
	t.Helper()
	pw := "pw"
	auth, err := NewAuthenticator([]User{
		{User: "reader", Password: &pw, Grants: []Grant{{Keyspace: "ks", Rights: []string{"read"}}}},
		{User: "writer", Password: &pw, Grants: []Grant{{Keyspace: "ks", Tables: "acct", Rights: []string{"read", "write"}}}},
		{User: "admin", Password: &pw, Grants: []Grant{{Keyspace: "*", Rights: []string{"all"}}}},
		{User: "legacy", Password: &pw},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := testExecutor(t, map[string]unaryClient{"ks/-80": rowsTablet(1), "ks/80-": rowsTablet(1), "main/0": rowsTablet(1)})
	e.authz = newAuthorizer(auth, zap.NewNop(), nil)
	return e, auth
}

func sessionOf(user string) *Session {
	s := NewSession(7, user)
	s.Keyspace = "ks"
	s.ClientAddr = "10.0.0.5:40000"
	return s
}

func TestGrants(t *testing.T) {
	e, _ := grantsExecutor(t)
	ctx := context.Background()
	for _, c := range []struct {
		user, sql string
		code      int    // 0: allowed
		contains  string // in the error
	}{
		{"reader", "select id from acct where id = 1", 0, ""},
		{"reader", "insert into acct (id) values (1)", 1142, "INSERT command denied to user 'reader'@'10.0.0.5' for table `ks`.`acct`"},
		{"reader", "update acct set id = 2 where id = 1", 1142, "UPDATE command denied"},
		{"reader", "use main", 1044, "Access denied for user 'reader'@'10.0.0.5' to database 'main'"},
		{"reader", "select * from main.t", 1142, "SELECT command denied to user 'reader'@'10.0.0.5' for table `main`.`t`"},
		{"reader", "use `ks:-80`", 1227, "admin right"},
		{"reader", "show vitess_shards", 1227, "admin right"},
		{"reader", "show query stats", 1227, "admin right"},
		{"reader", "vexplain plan select id from acct", 1227, "admin right"},
		{"reader", "set sql_log_bin = 0", 1227, "admin right"},
		{"reader", "create table newt (id int primary key)", 1142, "CREATE command denied"},
		{"reader", "select id from information_schema.tables", 0, ""},
		{"reader", "select * from performance_schema.threads", 1227, "admin right"},
		{"writer", "insert into acct (id) values (1)", 0, ""},
		{"writer", "delete from acct where id = 1", 0, ""},
		{"admin", "use `ks:-80`", 0, ""},
		{"admin", "use main", 0, ""},
		{"legacy", "insert into acct (id) values (1)", 0, ""},
		// Refused to everyone.
		{"legacy", "select load_file('/etc/passwd')", 1227, "FILE privilege"},
		{"admin", "select id from acct into outfile '/tmp/x'", 1227, "FILE privilege"},
		{"admin", "select * from mysql.user", 1142, "`mysql`.`user`"},
		{"admin", "use mysql", 1044, "mysql"},
		{"admin", "create database _shardgate", 1044, "_shardgate"},
		{"admin", "set global max_connections = 5", 1227, "SUPER"},
		{"admin", "create user evil identified by 'x'", 1227, "CREATE USER"},
		{"admin", "grant all on *.* to evil", 1227, "CREATE USER"},
	} {
		_, err := e.Execute(ctx, sessionOf(c.user), c.sql, nil)
		switch {
		case c.code == 0 && err != nil:
			t.Errorf("%s: %s: %v, want it allowed", c.user, c.sql, err)
		case c.code != 0 && err == nil:
			t.Errorf("%s: %s: allowed, want error %d", c.user, c.sql, c.code)
		case c.code != 0 && (int(sqlerr.From(err).Num) != c.code || !strings.Contains(err.Error(), c.contains)):
			t.Errorf("%s: %s: %v, want error %d with %q", c.user, c.sql, err, c.code, c.contains)
		}
	}
}

func TestGrantsReloadAppliesToOpenSessions(t *testing.T) {
	e, auth := grantsExecutor(t)
	ctx := context.Background()
	s := sessionOf("writer")
	if _, err := e.Execute(ctx, s, "insert into acct (id) values (1)", nil); err != nil {
		t.Fatal(err)
	}
	pw := "pw"
	if err := auth.Reload([]User{{User: "writer", Password: &pw, Grants: []Grant{{Keyspace: "ks", Rights: []string{"read"}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Execute(ctx, s, "insert into acct (id) values (2)", nil); err == nil || sqlerr.From(err).Num != 1142 {
		t.Errorf("after the reload took write away: %v, want 1142", err)
	}
	if _, err := e.Execute(ctx, s, "select id from acct where id = 1", nil); err != nil {
		t.Errorf("read after the reload: %v", err)
	}
	if err := auth.Reload([]User{{User: "writer", Password: &pw, Grants: []Grant{{Keyspace: "ks", Rights: []string{"fly"}}}}}); err == nil {
		t.Error("a grant with an unknown right was accepted")
	}
	if _, err := e.Execute(ctx, s, "select id from acct where id = 1", nil); err != nil {
		t.Errorf("a refused reload changed the rights: %v", err)
	}
}

func TestShowGrantsAndDatabases(t *testing.T) {
	e, _ := grantsExecutor(t)
	ctx := context.Background()
	res, err := e.Execute(ctx, sessionOf("writer"), "show grants", nil)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range res.Rows {
		lines = append(lines, r[0].ToString())
	}
	want := []string{"GRANT USAGE ON *.* TO `writer`@`%`", "GRANT SELECT, SHOW VIEW, INSERT, UPDATE, DELETE ON `ks`.`acct` TO `writer`@`%`"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") || res.Fields[0].Name != "Grants for writer@%" {
		t.Errorf("SHOW GRANTS (%s):\n%s\nwant\n%s", res.Fields[0].Name, strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if _, err := e.Execute(ctx, sessionOf("writer"), "show grants for admin", nil); err == nil || sqlerr.From(err).Num != 1227 {
		t.Errorf("SHOW GRANTS FOR another user without admin: %v, want 1227", err)
	}
	if _, err := e.Execute(ctx, sessionOf("admin"), "show grants for writer", nil); err != nil {
		t.Errorf("SHOW GRANTS FOR as admin: %v", err)
	}
	res, err = e.Execute(ctx, sessionOf("reader"), "show databases", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1 || res.Rows[0][0].ToString() != "ks" {
		t.Errorf("SHOW DATABASES for a user of ks only: %v", res.Rows)
	}
}

func TestUsersFrom(t *testing.T) {
	pw := "pw"
	for _, bad := range []string{"everywhere", "10.0.0.0/33", ","} {
		if _, err := NewAuthenticator([]User{{User: "u", Password: &pw, From: bad}}); err == nil {
			t.Errorf("from %q accepted", bad)
		}
	}
	auth, err := NewAuthenticator([]User{{User: "u", Password: &pw, From: "10.1.0.0/16, 192.168.0.7, loopback"}})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{"10.1.2.3": true, "10.2.0.1": false, "192.168.0.7": true, "192.168.0.8": false, "127.0.0.1": true} {
		if err := auth.CheckPassword(context.Background(), "u", "pw", tcpAddr(addr)); (err == nil) != want {
			t.Errorf("from %s: %v, want allowed=%v", addr, err, want)
		}
	}
}

func tcpAddr(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 3306} }
