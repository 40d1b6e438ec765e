package topo

import (
	"fmt"

	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shardgate/shardgate/internal/secretfile"
	"github.com/shardgate/shardgate/internal/tlsconfig"
)

// EtcdAuth is how a process proves itself to etcd and checks etcd's
// certificate: TLS (a CA for etcd's certificate, a client certificate
// for an etcd started with --client-cert-auth) and etcd's own users
// (--auth on etcd; the password read from a file or SHARDGATE_TOPO_PASSWORD,
// never from the command line). The topology decides where every
// statement goes and holds the gates' session key: a production etcd
// requires one of them (README, "Security").
type EtcdAuth struct {
	TLS          tlsconfig.Client
	User         string
	PasswordFile string
}

// AddFlags registers the --topo-* flags every command that reaches the
// topology takes.
func (a *EtcdAuth) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.TLS.CAFile, "topo-ca", "", "PEM CA that signed etcd's certificate (TLS to etcd when set; endpoints then use https)")
	fs.StringVar(&a.TLS.CertFile, "topo-cert", "", "PEM client certificate for an etcd that requires one (--client-cert-auth)")
	fs.StringVar(&a.TLS.KeyFile, "topo-key", "", "PEM key of --topo-cert")
	fs.StringVar(&a.User, "topo-user", "", "etcd user (etcd with --auth-token and auth enabled)")
	fs.StringVar(&a.PasswordFile, "topo-password-file", "", "file holding --topo-user's password (mode 600; or SHARDGATE_TOPO_PASSWORD)")
}

// Options returns the EtcdStore options a says.
func (a EtcdAuth) Options() ([]EtcdOption, error) {
	var opts []EtcdOption
	tlsCfg, err := a.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("--topo-ca/--topo-cert: %w", err)
	}
	if tlsCfg != nil {
		opts = append(opts, func(c *clientv3.Config) { c.TLS = tlsCfg })
	}
	if a.User != "" {
		var password string
		if err := secretfile.Resolve(&password, a.PasswordFile, "SHARDGATE_TOPO_PASSWORD"); err != nil {
			return nil, fmt.Errorf("--topo-password-file: %w", err)
		}
		opts = append(opts, func(c *clientv3.Config) { c.Username, c.Password = a.User, password })
	}
	return opts, nil
}
