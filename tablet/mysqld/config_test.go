package mysqld

import (
	"slices"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	long := "/tmp/" + strings.Repeat("d", 100)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // substring of the error; empty: valid
	}{
		{"valid", Config{DataDir: "/tmp/sg1", Port: 17100, ServerID: 1}, ""},
		{"relative dir", Config{DataDir: "sg1", Port: 17100, ServerID: 1}, ""},
		{"no dir", Config{Port: 17100, ServerID: 1}, "DataDir is required"},
		{"no port", Config{DataDir: "/tmp/sg1", ServerID: 1}, "Port 0"},
		{"port too big", Config{DataDir: "/tmp/sg1", Port: 70000, ServerID: 1}, "Port 70000"},
		{"no server id", Config{DataDir: "/tmp/sg1", Port: 17100}, "ServerID is required"},
		{"socket too long", Config{DataDir: long, Port: 17100, ServerID: 1}, "shorter DataDir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestConfigPaths(t *testing.T) {
	c := Config{DataDir: "/x/sg", Port: 17100, ServerID: 1}
	for got, want := range map[string]string{
		c.SocketPath():    "/x/sg/mysql.sock",
		c.PidFile():       "/x/sg/mysqld.pid",
		c.ErrorLog():      "/x/sg/error.log",
		c.ServerDataDir(): "/x/sg/data",
		c.BinlogDir():     "/x/sg/binlog",
		c.Addr():          "127.0.0.1:17100",
		c.DSN("db"):       "root@unix(/x/sg/mysql.sock)/db?timeout=10s",
		c.DSN(""):         "root@unix(/x/sg/mysql.sock)/?timeout=10s",
		c.TCPDSN("db"):    "root@tcp(127.0.0.1:17100)/db?timeout=10s",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestServerArgs(t *testing.T) {
	c := Config{DataDir: "/x/sg", Port: 17100, ServerID: 7, ExtraArgs: []string{"--general-log=ON"}}
	args := serverArgs(c, "mysql")
	if args[0] != "--no-defaults" {
		t.Errorf("first argument %q, want --no-defaults", args[0])
	}
	if args[1] != "--user=mysql" {
		t.Errorf("second argument %q, want --user=mysql, the account it runs as", args[1])
	}
	if args[len(args)-1] != "--general-log=ON" {
		t.Errorf("last argument %q, want the extra argument", args[len(args)-1])
	}
	for _, want := range []string{
		"--datadir=/x/sg/data", "--socket=/x/sg/mysql.sock", "--pid-file=/x/sg/mysqld.pid",
		"--log-error=/x/sg/error.log", "--log-bin=/x/sg/binlog/mysql-bin", "--tmpdir=/x/sg/tmp",
		"--secure-file-priv=/x/sg/files",
		"--relay-log=/x/sg/relaylog/relay-bin", "--port=17100", "--server-id=7",
		"--bind-address=127.0.0.1", "--binlog-format=ROW", "--gtid-strict-mode=ON",
	} {
		if !slices.Contains(args, want) {
			t.Errorf("command line lacks %s: %q", want, args)
		}
	}
	if slices.ContainsFunc(serverArgs(c, ""), func(a string) bool { return strings.HasPrefix(a, "--user") }) {
		t.Error("--user passed when the server runs as whoever starts it")
	}
}
