package client

import (
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/tlsconfig/tlstest"
	"github.com/shardgate/shardgate/proto/gatepb"
	"github.com/shardgate/shardgate/proto/topopb"
)

func TestParseDSN(t *testing.T) {
	cfg, err := ParseDSN("shardgate://app:p%40ss@gate.example:15991/commerce?target=@replica&timeout=5s&queryTimeout=1m&parseTime=true&loc=Europe%2FBerlin&workload=olap&transactionMode=twopc&tls=true")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Address != "gate.example:15991" || cfg.User != "app" || cfg.Password != "p@ss" || cfg.Target != "commerce@replica" ||
		cfg.ConnectTimeout != 5*time.Second || cfg.QueryTimeout != time.Minute || !cfg.ParseTime || cfg.Location.String() != "Europe/Berlin" ||
		cfg.Workload != "olap" || cfg.TransactionMode != "twopc" || cfg.TLS == nil {
		t.Fatalf("parsed %+v", cfg)
	}
	for dsn, target := range map[string]string{
		"shardgate://h:1":                          "",
		"shardgate://h:1/ks":                       "ks",
		"shardgate://h:1/ks:-80":                   "ks:-80",
		"shardgate://h:1/ks?target=:80-":           "ks:80-",
		"shardgate://h:1/ks?target=other@rdonly":   "other@rdonly",
		"shardgate://h:1/?target=ks:-80@replica":   "ks:-80@replica",
		"shardgate://h:1/ks:-80?target=%40replica": "ks:-80@replica",
	} {
		cfg, err := ParseDSN(dsn)
		if err != nil || cfg.Target != target {
			t.Errorf("%s: target %q, %v; want %q", dsn, cfg.Target, err, target)
		}
	}
	for dsn, want := range map[string]string{
		"mysql://h:1/ks":                     "scheme",
		"shardgate:///ks":                    "host:port",
		"shardgate://h/ks":                   "port",
		"shardgate://h:1/ks?timout=1s":       "unknown option \"timout\"",
		"shardgate://h:1/ks?timeout=soon":    "duration",
		"shardgate://h:1/ks?workload=dss":    "oltp or olap",
		"shardgate://h:1/ks?parseTime=maybe": "parseTime",
		"shardgate://h:1/ks?tlsCA=/nope.pem": "nope.pem",
		"shardgate://u:secret@h:1/ks?x=1":    "unknown option",
	} {
		_, err := ParseDSN(dsn)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want an error about %q", dsn, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error shows the password: %v", dsn, err)
		}
	}
	ca := tlstest.NewCA(t, "gate")
	app := ca.Client("app")
	cfg, err = ParseDSN("shardgate://h:1/ks?tlsCA=" + ca.File + "&tlsCert=" + app.CertFile + "&tlsKey=" + app.KeyFile + "&tlsServerName=gate")
	if err != nil || cfg.TLS == nil || cfg.TLS.RootCAs == nil || len(cfg.TLS.Certificates) != 1 || cfg.TLS.ServerName != "gate" {
		t.Fatalf("TLS from files: %+v, %v", cfg.TLS, err)
	}
}

func TestNewSessionFromConfig(t *testing.T) {
	s, err := newSessionProto(Config{Target: "ks:-80@replica", Workload: "olap", TransactionMode: "single"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Keyspace != "ks" || s.Shard != "-80" || s.TabletType != topopb.TabletType_REPLICA || !s.Autocommit ||
		s.Workload != "olap" || s.TransactionMode != gatepb.TransactionMode_SINGLE {
		t.Fatalf("session %v", s)
	}
	for _, bad := range []string{"ks@master", ":-80", "ks@"} {
		if _, err := newSessionProto(Config{Target: bad}); err == nil {
			t.Errorf("target %q accepted", bad)
		}
	}
}

func TestPasswordNeedsTLSOffLoopback(t *testing.T) {
	if _, err := New(Config{Address: "10.0.0.1:15991", Password: "x"}); err == nil || !strings.Contains(err.Error(), "unencrypted") {
		t.Fatalf("a password in clear to a remote gate: %v", err)
	}
	for _, cfg := range []Config{
		{Address: "127.0.0.1:15991", Password: "x"},
		{Address: "localhost:15991", Password: "x"},
		{Address: "10.0.0.1:15991", Password: "x", AllowCleartextPasswords: true},
		{Address: "10.0.0.1:15991"},
	} {
		c, err := New(cfg)
		if err != nil {
			t.Errorf("%+v: %v", cfg, err)
			continue
		}
		c.Close()
	}
}

// FuzzParseDSN: any string handed to sql.Open parses into a configuration
// or fails with an error; it never panics.
func FuzzParseDSN(f *testing.F) {
	for _, dsn := range []string{
		"shardgate://app:p%40ss@gate.example:15991/commerce?target=@replica&timeout=5s",
		"shardgate://h:1/ks:-80?target=%40replica&workload=olap&transactionMode=twopc",
		"shardgate://[::1]:15991/?loc=Local&parseTime=true&queryTimeout=1m",
		"shardgate://h/ks?tls=true&tlsServerName=x&allowCleartextPasswords=true",
		"mysql://h:1/ks", "", "shardgate://%zz",
	} {
		f.Add(dsn)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		cfg, err := ParseDSN(dsn)
		if err == nil && cfg == nil {
			t.Fatalf("ParseDSN(%q) returned neither a configuration nor an error", dsn)
		}
	})
}
