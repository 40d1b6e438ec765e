package tlsconfig_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardgate/shardgate/internal/tlsconfig"
	"github.com/shardgate/shardgate/internal/tlsconfig/tlstest"
)

func TestConfigs(t *testing.T) {
	ca := tlstest.NewCA(t, "test")
	server, client := ca.Server("server"), ca.Client("client")

	if cfg, err := (tlsconfig.Server{}).Config(); cfg != nil || err != nil {
		t.Fatalf("no files: %v, %v; want no TLS", cfg, err)
	}
	cfg, err := tlsconfig.Server{CertFile: server.CertFile, KeyFile: server.KeyFile}.Config()
	if err != nil || len(cfg.Certificates) != 1 || cfg.ClientAuth != tls.NoClientCert {
		t.Fatalf("server: %+v, %v", cfg, err)
	}
	cfg, err = tlsconfig.Server{CertFile: server.CertFile, KeyFile: server.KeyFile, ClientCAFile: ca.File}.Config()
	if err != nil || cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.ClientCAs == nil {
		t.Fatalf("server with a client CA: %+v, %v", cfg, err)
	}
	cfg, err = tlsconfig.Client{CAFile: ca.File, CertFile: client.CertFile, KeyFile: client.KeyFile, ServerName: "db"}.Config()
	if err != nil || cfg.RootCAs == nil || len(cfg.Certificates) != 1 || cfg.ServerName != "db" {
		t.Fatalf("client: %+v, %v", cfg, err)
	}

	notPEM := filepath.Join(t.TempDir(), "x.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		build func() error
		want  string
	}{
		"server without key": {func() error { _, err := (tlsconfig.Server{CertFile: server.CertFile}).Config(); return err }, "both"},
		"server, key of another certificate": {func() error {
			_, err := (tlsconfig.Server{CertFile: server.CertFile, KeyFile: client.KeyFile}).Config()
			return err
		}, "key"},
		"client CA not PEM":       {func() error { _, err := (tlsconfig.Client{CAFile: notPEM}).Config(); return err }, "no PEM certificate"},
		"client CA missing":       {func() error { _, err := (tlsconfig.Client{CAFile: notPEM + ".gone"}).Config(); return err }, "x.pem.gone"},
		"client cert without key": {func() error { _, err := (tlsconfig.Client{CertFile: client.CertFile}).Config(); return err }, "both"},
	} {
		if err := c.build(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an error about %q", name, err, c.want)
		}
	}
}
