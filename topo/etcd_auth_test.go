package topo

import (
	"context"
	"net"
	"net/url"
	"path/filepath"
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
	port := func() url.URL {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return url.URL{Scheme: "https", Host: l.Addr().String()}
	}
	cfg := embed.NewConfig()
	cfg.Name = "tlstest"
	cfg.Dir = t.TempDir()
	clientURL, peer := port(), port()
	peer.Scheme = "http"
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{clientURL}, []url.URL{clientURL}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ClientTLSInfo.CertFile, cfg.ClientTLSInfo.KeyFile = server.CertFile, server.KeyFile
	cfg.ClientTLSInfo.TrustedCAFile, cfg.ClientTLSInfo.ClientCertAuth = ca.File, true
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(cfg.Dir, "etcd.log")}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("embedded etcd: %v", err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("embedded etcd did not start")
	}
	endpoint := []string{clientURL.String()}

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
