// Package grpcbackoff holds the reconnect backoff of this project's gRPC
// clients (gate to tablets, every process to etcd).
package grpcbackoff

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// Bounded bounds how long a server that returns stays unreached. gRPC's
// default reconnect backoff (1 s growing 1.6 times to 120 s) meant that
// after a long outage the next attempt could come tens of seconds after
// the server was back (a shard unserved 30-50 s after its tablet
// returned; a gate on its topology snapshot 10 s and more after etcd did).
// An attempt against a closed port costs nothing, so retry at least every
// 2 s.
var Bounded = grpc.ConnectParams{
	Backoff: backoff.Config{
		BaseDelay:  100 * time.Millisecond,
		Multiplier: 1.6,
		Jitter:     0.2,
		MaxDelay:   2 * time.Second,
	},
	MinConnectTimeout: 5 * time.Second,
}
