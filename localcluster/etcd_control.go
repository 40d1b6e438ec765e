package localcluster

import (
	"context"
	"errors"
	"path/filepath"
)

// StopEtcd stops the embedded etcd, as an outage would, while every other
// part keeps running: for tests of what gates and tablets do without
// their topology. StartEtcd brings it back; Close works either way.
func (c *Cluster) StopEtcd() error {
	c.mu.Lock()
	e := c.etcd
	// nil: Close must not close it again (a second Close of an embedded
	// etcd panics).
	c.etcd = nil
	c.mu.Unlock()
	if e == nil {
		return errors.New("local cluster: etcd is not running")
	}
	e.Close()
	c.log.Info("etcd stopped on request")
	return nil
}

// StartEtcd starts the embedded etcd again after StopEtcd, on the same
// data and ports, and returns once it serves clients.
func (c *Cluster) StartEtcd(ctx context.Context) error {
	c.mu.Lock()
	running := c.etcd != nil
	c.mu.Unlock()
	if running {
		return errors.New("local cluster: etcd is running already")
	}
	p := c.p
	e, err := startEtcd(ctx, filepath.Join(p.cfg.DataDir, "etcd"), p.ports.EtcdClient, p.ports.EtcdPeer, filepath.Join(p.logDir(), "etcd.log"))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.etcd = e
	c.mu.Unlock()
	c.log.Info("etcd started again on request")
	return nil
}
