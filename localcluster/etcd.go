package localcluster

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"go.etcd.io/etcd/server/v3/embed"
)

// startEtcd runs a single-member etcd inside this process, with its data
// in dir, serving clients and peers on 127.0.0.1 only. Its own log goes to
// logPath (warnings and errors only), so the supervisor's output stays
// readable. It returns once etcd serves clients.
func startEtcd(ctx context.Context, dir string, clientPort, peerPort int, logPath string) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "local"
	cfg.Dir = dir
	client := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(clientPort)}
	peer := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(peerPort)}
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.Logger = "zap"
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{logPath}
	// The topology of a local cluster is small; keep an hour of history.
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = "1h"

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd on 127.0.0.1:%d (data in %s): %w", clientPort, dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd failed while starting: %w (see %s)", err, logPath)
	case <-ctx.Done():
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("embedded etcd did not become ready: %w (see %s)", ctx.Err(), logPath)
	}
}
