package localcluster

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// DirectReadUser is the MariaDB user the local cluster's tablets create
// for the gate's direct reads (SELECT on their keyspace's database only).
const DirectReadUser = "shardgate_reader"

// directReadPasswordFile holds that user's password, shared by the
// tablets, which set it, and the gate, which logs in with it.
func (p *plan) directReadPasswordFile() string {
	return filepath.Join(p.cfg.DataDir, "direct-read-password")
}

// ensureSecretFile writes a new random secret to path (mode 600) unless
// the file exists: a cluster started again keeps its password.
func ensureSecretFile(path string) error {
	if _, err := os.Stat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(hex.EncodeToString(secret)+"\n"), 0o600)
}

// DirectReadPasswordFile is the file holding DirectReadUser's password
// (empty when the cluster runs with ThroughTablets).
func (c *Cluster) DirectReadPasswordFile() string {
	if c.p.cfg.ThroughTablets {
		return ""
	}
	return c.p.directReadPasswordFile()
}
