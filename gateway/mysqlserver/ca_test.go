package mysqlserver

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"

	"github.com/shardgate/shardgate/internal/tlsconfig/tlstest"
)

// testCA is a certificate authority made for one test (the project's
// tlstest), with what these tests need of it at hand.
type testCA struct {
	ca   *tlstest.CA
	pool *x509.CertPool
	file string // the CA certificate, PEM
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	ca := tlstest.NewCA(t, "mysqlserver")
	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("the test CA's certificate does not parse")
	}
	return &testCA{ca: ca, pool: pool, file: ca.File}
}

// serverConfig is a TLS configuration with a certificate for 127.0.0.1,
// ::1 and localhost, signed by the CA.
func (ca *testCA) serverConfig(t testing.TB, _ string) *tls.Config {
	t.Helper()
	pair := ca.ca.Server("server")
	cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}
