package topo

import (
	"context"
	"net/url"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/shardgate/shardgate/internal/tlsconfig"
	"github.com/shardgate/shardgate/internal/tlsconfig/tlstest"
)

// TestEtcdWithClientCertificates runs the topology against an etcd that
// requires client certificates, as the README's production setup does:
// without one nothing is read, with one everything works.
func TestEtcdWithClientCertificates(t *testing.T) {
	ca := tlstest.NewCA(t, "etcd")
	server, client := ca.Server("etcd"), ca.Client("shardgate")
	addr := startEtcd(t, func(cfg *embed.Config, client *url.URL) {
		client.Scheme = "https"
		cfg.ClientTLSInfo.CertFile, cfg.ClientTLSInfo.KeyFile = server.CertFile, server.KeyFile
		cfg.ClientTLSInfo.TrustedCAFile, cfg.ClientTLSInfo.ClientCertAuth = ca.File, true
	})
	endpoint := []string{"https://" + addr}

	read := func(auth EtcdAuth) error {
		opts, err := auth.Options()
		if err != nil {
			return err
		}
		store, err := NewEtcdStore(endpoint, nil, append(opts, WithDialTimeout(2*time.Second))...)
		if err != nil {
			return err
		}
		defer store.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err = NewServer(store, DefaultRoot).SessionKey(ctx)
		return err
	}
	if err := read(EtcdAuth{TLS: tlsconfig.Client{CAFile: ca.File}}); err == nil {
		t.Error("etcd answered a client without a certificate")
	}
	if err := read(EtcdAuth{TLS: tlsconfig.Client{CAFile: ca.File, CertFile: client.CertFile, KeyFile: client.KeyFile}}); err != nil {
		t.Errorf("with a client certificate: %v", err)
	}
}
