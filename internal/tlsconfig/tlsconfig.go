// Package tlsconfig builds the TLS configurations of Shardgate's gRPC
// ports and of the connections to them from PEM files named by flags: a
// server's certificate and key, and optionally the CA its clients'
// certificates must be signed by (mutual TLS); a client's CA to check the
// server with, and optionally its own certificate and key.
//
// Files are read once, when the configuration is built: replacing a
// certificate takes a restart.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Server names a server's certificate files. The zero value means no TLS.
type Server struct {
	CertFile string
	KeyFile  string
	// ClientCAFile, when set, makes the server require client certificates
	// signed by this CA.
	ClientCAFile string
}

// Enabled reports whether any file is named.
func (s Server) Enabled() bool { return s.CertFile != "" || s.KeyFile != "" || s.ClientCAFile != "" }

// Config returns the server's TLS configuration, nil when no file is named.
func (s Server) Config() (*tls.Config, error) {
	if !s.Enabled() {
		return nil, nil
	}
	if s.CertFile == "" || s.KeyFile == "" {
		return nil, errors.New("a TLS server needs both a certificate and a key file")
	}
	cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", s.CertFile, s.KeyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if s.ClientCAFile != "" {
		pool, err := loadPool(s.ClientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// Client names a client's files. The zero value means no TLS.
type Client struct {
	// CAFile is the CA the server's certificate must be signed by; empty:
	// the system's roots.
	CAFile string
	// CertFile and KeyFile are the client's own certificate, for servers
	// that require one.
	CertFile string
	KeyFile  string
	// ServerName is the name the server's certificate must carry; empty:
	// the host the client dials.
	ServerName string
}

// Enabled reports whether any setting is made.
func (c Client) Enabled() bool {
	return c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != ""
}

// Config returns the client's TLS configuration, nil when nothing is set.
func (c Client) Config() (*tls.Config, error) {
	if !c.Enabled() {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: c.ServerName, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pool, err := loadPool(c.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if c.CertFile != "" || c.KeyFile != "" {
		if c.CertFile == "" || c.KeyFile == "" {
			return nil, errors.New("a TLS client certificate needs both a certificate and a key file")
		}
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS client certificate %s and key %s: %w", c.CertFile, c.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("TLS CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("TLS CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}
